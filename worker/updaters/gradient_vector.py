"""A model's gradient as one flat vector, and back: the form GEM and A-GEM reason in.

Gradient-projection methods treat the gradient of all trainable parameters as a single
vector g ∈ R^P. These two functions convert between that view and the per-parameter
``.grad`` tensors the optimizer reads, in a fixed parameter order.
"""

from __future__ import annotations

import torch
from torch import nn


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer updates, in ``model.parameters()`` order."""
    return [p for p in model.parameters() if p.requires_grad]


def flat_gradient(
    loss: torch.Tensor, parameters: list[nn.Parameter], dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """∂loss/∂θ flattened to one vector of ``dtype``, zeros for parameters the loss does
    not reach. Uses ``torch.autograd.grad``, so no ``.grad`` is touched."""
    grads = torch.autograd.grad(loss, parameters, allow_unused=True)
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(p)).reshape(-1).to(dtype)
            for g, p in zip(grads, parameters, strict=True)
        ]
    )


def write_gradient(parameters: list[nn.Parameter], vector: torch.Tensor) -> None:
    """Set each parameter's ``.grad`` to its slice of ``vector`` (cast to its dtype)."""
    offset = 0
    for p in parameters:
        n = p.numel()
        p.grad = vector[offset : offset + n].view_as(p).to(p.dtype, copy=True)
        offset += n
    if offset != vector.numel():
        raise ValueError(f"gradient vector has {vector.numel()} entries, parameters {offset}")
