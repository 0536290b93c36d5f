"""The replay memory a replay method keeps (``er``, ``der``, ``er_ace``, ``rwalk`` with
``memory_size`` > 0), chosen by ``memory_policy``: one interface, two policies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from app.schemas.updaters import MemoryPolicy
from worker.updaters.class_balanced import ClassBalancedBuffer
from worker.updaters.protocol import UpdaterState
from worker.updaters.reservoir import ReservoirBuffer

Derive = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
"""Computes further fields (DER's logits) for the rows a memory admits, from their fields."""


class ReplayMemory(Protocol):
    """What ``ReservoirBuffer`` and ``ClassBalancedBuffer`` both offer."""

    capacity: int
    seen: int
    fields: dict[str, torch.Tensor]

    def __len__(self) -> int: ...

    def add(
        self, generator: torch.Generator, derive: Derive | None = None, **batch: torch.Tensor
    ) -> None: ...

    def add_all(
        self,
        generator: torch.Generator,
        block: int = 65536,
        derive: Derive | None = None,
        **items: torch.Tensor,
    ) -> None: ...

    def sample(self, k: int, generator: torch.Generator) -> dict[str, torch.Tensor]: ...

    def state_dict(self, prefix: str = "buffer") -> UpdaterState: ...

    def load_state_dict(self, state: UpdaterState, prefix: str = "buffer") -> None: ...


def make_memory(policy: MemoryPolicy, capacity: int, device: torch.device) -> ReplayMemory:
    if policy == "class_balanced":
        return ClassBalancedBuffer(capacity, device)
    return ReservoirBuffer(capacity, device)
