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
from torch import nn

from app.schemas.updaters import ERACEParams, TrainingConfig
from worker.updaters.batch_forward import forward_each, has_batch_coupled_layers
from worker.updaters.protocol import Experience, FitReport, ProgressFn, UpdaterState
from worker.updaters.replay_memory import make_memory
from worker.updaters.rng import make_generator, restore_run_state, run_state
from worker.updaters.training_loop import autocast, last_epoch_start, make_optimizer, run_epochs


def present_classes_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L_ce over C_curr, the classes present in ``y``: the other logits are masked out of
    the softmax (§4.2), with no host sync."""
    present = torch.zeros(logits.shape[1], dtype=torch.bool, device=logits.device)
    present[y] = True
    masked = logits.masked_fill(~present, torch.finfo(logits.dtype).min)
    return F.cross_entropy(masked, y)


class ERACE:
    name = "er_ace"

    def __init__(
        self,
        model: nn.Module,
        params: ERACEParams,
        training: TrainingConfig,
        device: torch.device,
    ) -> None:
        self.model, self.params, self.training, self.device = model, params, training, device
        self.generator = make_generator(training.seed, device)
        self.buffer = make_memory(params.memory_policy, params.memory_size, device)
        self.memory_batch_size = params.memory_batch_size or training.batch_size
        self.separately = has_batch_coupled_layers(model)
        self.experiences_seen = 0

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)
        last_epoch_from = last_epoch_start(len(experience), self.training, self.model)
        steps_done = 0
        if self.params.memory_update == "before_fit":
            self.buffer.add_all(self.generator, x=experience.x, y=experience.y)

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            nonlocal steps_done
            optimizer.zero_grad(set_to_none=True)
            memory = None
            if len(self.buffer) > 0:
                memory = self.buffer.sample(self.memory_batch_size, self.generator)
            with autocast(self.device, self.training):
                if memory is None:  # nothing to protect yet: plain CE, as Avalanche
                    loss = F.cross_entropy(self.model(x), y)
                else:
                    new, replayed = forward_each(self.model, [x, memory["x"]], self.separately)
                    # L_ACE = L_ce(X_in; C_curr) + L_ce(X_bf; C)  (§4.2)
                    loss = present_classes_cross_entropy(new, y) + F.cross_entropy(
                        replayed, memory["y"]
                    )
            loss.backward()
            optimizer.step()
            if self.params.memory_update == "last_epoch" and steps_done >= last_epoch_from:
                self.buffer.add(self.generator, x=x, y=y)
            steps_done += 1
            return loss.detach()

        report = run_epochs(self.model, experience, self.training, self.generator, step, progress)
        if self.params.memory_update == "after_fit":
            self.buffer.add_all(self.generator, x=experience.x, y=experience.y)
        self.experiences_seen += 1
        report.extra["memory_filled"] = float(len(self.buffer))
        return report

    def state_dict(self) -> UpdaterState:
        return run_state(self.generator, self.experiences_seen).merged(self.buffer.state_dict())

    def load_state_dict(self, state: UpdaterState) -> None:
        self.experiences_seen = restore_run_state(state, self.generator)
        self.buffer.load_state_dict(state)
