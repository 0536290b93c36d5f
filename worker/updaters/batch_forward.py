"""Forward passes over several batches that must not see each other.

In train mode a BatchNorm layer normalises each sample with the statistics of the whole
batch it came in, so one forward over new and memory samples concatenated gives the new
samples other outputs than a forward of their own (and other running statistics). DER's
stored logits and ER-ACE's masked loss must be those of the new batch alone, so for a
model with such layers each batch gets its own forward, as Mammoth's DER and the authors'
ER-ACE do; for any other model one concatenated forward gives the same outputs (up to rounding),
cheaper.
Only ``torch.nn`` BatchNorm layers (``_BatchNorm``: BatchNorm1d/2d/3d, SyncBatchNorm,
the lazy ones) are recognised; a custom layer that mixes samples is not.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def has_batch_coupled_layers(model: nn.Module) -> bool:
    """Whether a train-mode output of ``model`` depends on the other samples of its batch."""
    return any(isinstance(module, _BatchNorm) for module in model.modules())


def forward_each(
    model: nn.Module, batches: list[torch.Tensor], separately: bool
) -> list[torch.Tensor]:
    """``model``'s outputs for each batch, computed as if each were alone: one forward per
    batch when ``separately`` (batch-coupled layers), else one over them all, split."""
    if separately or len(batches) == 1:
        return [model(batch) for batch in batches]
    outputs: torch.Tensor = model(torch.cat(batches))
    return list(outputs.split([batch.shape[0] for batch in batches]))
