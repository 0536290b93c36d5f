"""ER-ACE: Experience Replay with the asymmetric cross-entropy (Caccia, Aljundi, Asadi,
Tuytelaars, Pineau & Belilovsky, ICLR 2022, "New Insights on Reducing Abrupt
Representation Change in Online Continual Learning", §4.2).

The incoming batch's cross-entropy runs over the classes present in that batch only, so
new classes do not push the logits of old ones down on new data; the memory batch's runs
over every class. The two terms are summed, as in the authors' code (Avalanche's
``ACECriterion`` halves the sum). The memory is class-balanced or a reservoir
(``memory_policy``), offered the chunk ``before_fit`` by default (Avalanche's ER_ACE:
memory batches then hold current samples too, against which new classes learn to stand
out from old ones), or ``after_fit`` / ``last_epoch`` (the authors' online ER). Each
batch has its own forward where the model has BatchNorm layers (``batch_forward``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from worker.updaters.batch_forward import forward_each
from worker.updaters.er import ER


def present_classes_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L_ce over C_curr, the classes present in ``y``: the other logits are masked out of
    the softmax (§4.2), with no host sync."""
    present = torch.zeros(logits.shape[1], dtype=torch.bool, device=logits.device)
    present[y] = True
    masked = logits.masked_fill(~present, torch.finfo(logits.dtype).min)
    return F.cross_entropy(masked, y)


class ERACE(ER):
    """ER's schedule and memory; only the loss differs."""

    name = "er_ace"

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, memory: dict[str, torch.Tensor] | None
    ) -> torch.Tensor:
        if memory is None:  # nothing to protect yet: plain CE, as Avalanche
            return F.cross_entropy(self.model(x), y)
        new, replayed = forward_each(self.model, [x, memory["x"]], self.separately)
        # L_ACE = L_ce(X_in; C_curr) + L_ce(X_bf; C)  (§4.2)
        return present_classes_cross_entropy(new, y) + F.cross_entropy(replayed, memory["y"])
