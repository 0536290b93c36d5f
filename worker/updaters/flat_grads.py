"""A model's parameters or gradients as one flat vector, with O(1) operations a step.

Gradient-projection and importance methods (GEM, A-GEM, RWalk) reason about θ and g as
single vectors in R^P. A ``FlatLayout`` says where each trainable parameter sits in such
a vector; ``views`` gives the per-parameter views of a preallocated flat buffer (or of a
row of a matrix of them), so that a whole model is gathered into it with one
``torch._foreach_copy_`` and handed to the optimizer as ``.grad`` views without any copy
back. On a GPU a foreach op is one (or a few) kernel launches however many tensors the
model has; a Python loop over the tensors would be one per tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer updates, in ``model.parameters()`` order."""
    return [p for p in model.parameters() if p.requires_grad]


class FlatLayout:
    """The place of each of ``parameters`` in a flat vector of all of them, in order."""

    def __init__(self, parameters: Sequence[torch.Tensor]) -> None:
        if not parameters:
            raise ValueError("a flat layout needs at least one parameter")
        self.shapes = [p.shape for p in parameters]
        self.sizes = [p.numel() for p in parameters]
        self.numel = sum(self.sizes)
        self.device = parameters[0].device
        dtypes = {p.dtype for p in parameters}
        self.dtype = dtypes.pop() if len(dtypes) == 1 else torch.float32
        """The parameters' common dtype (float32 where they differ)."""

    def zeros(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.zeros(self.numel, dtype=dtype or self.dtype, device=self.device)

    def views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Per-parameter views of ``flat`` (P,), shaped like the parameters."""
        if flat.shape != (self.numel,):
            raise ValueError(f"flat vector has shape {tuple(flat.shape)}, layout {self.numel}")
        return [
            part.view(shape)
            for part, shape in zip(flat.split(self.sizes), self.shapes, strict=True)
        ]


def gather(views: Sequence[torch.Tensor], tensors: Sequence[torch.Tensor | None]) -> None:
    """Copy ``tensors`` into ``views`` (cast to their dtype) with one foreach op; a None
    (a parameter the loss does not reach) gives zeros."""
    present = [(v, t) for v, t in zip(views, tensors, strict=True) if t is not None]
    if present:
        torch._foreach_copy_([v for v, _ in present], [t.detach() for _, t in present])
    missing = [v for v, t in zip(views, tensors, strict=True) if t is None]
    if missing:
        torch._foreach_zero_(missing)


def gather_gradient(
    loss: torch.Tensor, parameters: Sequence[torch.Tensor], views: Sequence[torch.Tensor]
) -> None:
    """∂loss/∂θ into ``views`` of a flat buffer; ``.grad`` is not touched."""
    gather(views, torch.autograd.grad(loss, list(parameters), allow_unused=True))


class FlatGradient:
    """A flat gradient buffer g that the optimizer reads as the parameters' ``.grad``.

    Where a parameter's dtype is g's, its ``.grad`` *is* its view of g (installed by
    ``install``, no copy ever); any other parameter gets a ``.grad`` of its own, which
    ``publish`` refreshes from g with one foreach copy."""

    def __init__(self, parameters: Sequence[nn.Parameter], dtype: torch.dtype) -> None:
        self.parameters = list(parameters)
        self.layout = FlatLayout(self.parameters)
        self.flat = self.layout.zeros(dtype)
        self.views = self.layout.views(self.flat)
        self._copied = [
            k
            for k, p in enumerate(self.parameters)
            if p.dtype != dtype or p.device != self.flat.device
        ]

    def install(self) -> None:
        """Make g the parameters' ``.grad`` (call once, before the steps)."""
        copied = set(self._copied)
        for k, (p, view) in enumerate(zip(self.parameters, self.views, strict=True)):
            p.grad = torch.zeros_like(p) if k in copied else view

    def publish(self) -> None:
        """After g changed: the ``.grad`` that are not views of g follow it."""
        if self._copied:
            grads = [self.parameters[k].grad for k in self._copied]
            torch._foreach_copy_(grads, [self.views[k] for k in self._copied])  # type: ignore[arg-type]
