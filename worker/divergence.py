"""Whether an update diverged: its weights are no longer all finite."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def weights_are_finite(model: nn.Module) -> bool:
    """One reduction and one host sync for all the parameters: the infinity norm of each
    (``torch._foreach_norm``: a kernel or so per dtype, not one per tensor) is NaN or inf
    exactly when the tensor holds a NaN or an inf, and never overflows."""
    tensors = [p.detach() for p in model.parameters() if p.numel() > 0]
    if not tensors:
        return True
    norms = torch._foreach_norm(tensors, ord=float("inf"))
    dtype = torch.promote_types(norms[0].dtype, torch.float32)
    return bool(torch.stack([n.to(dtype) for n in norms]).isfinite().all())
