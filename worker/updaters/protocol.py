"""The thin protocol every updater follows, and the values that cross it.

An updater learns one experience (one chunk) per ``fit`` and exposes its whole state
(memory, importances, counters, RNG) as tensors plus JSON, which ``state_io.py`` saves
without pickle. No base class, on purpose: shared mechanics are plain functions
(``training_loop.py``, ``rng.py``) that each method calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch


class StateMismatch(ValueError):
    """A saved state cannot serve these hyperparameters or this model (e.g. another
    ``memory_size``): the caller may start fresh. Other errors in loading are bugs."""


LossSoFar = Callable[[], float]
"""Reads the mean training loss of the current epoch's steps so far. Reading it waits for
the device (a host sync), so a progress function calls it only when it reports."""

ProgressFn = Callable[[float, LossSoFar], None]
"""Called after each training step with the fraction of the chunk's training done, in
[0, 1], and the running loss to read if wanted."""


@dataclass
class Experience:
    """One chunk of labelled data, already on the training device."""

    x: torch.Tensor  # float32, (N, *input_shape)
    y: torch.Tensor  # int64, (N,)

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError("x and y differ in length")

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class FitReport:
    """What one ``fit`` call did; JSON-able through ``as_dict``."""

    steps: int
    samples: int  # new samples processed (epochs x chunk size)
    seconds: float
    loss_curve: list[float]  # mean training loss of each epoch
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "samples": self.samples,
            "seconds": self.seconds,
            "samples_per_second": self.samples_per_second,
            "loss_curve": self.loss_curve,
            **self.extra,
        }


@dataclass
class UpdaterState:
    """Tensors (saved with safetensors) and JSON-able metadata (saved as JSON)."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def merged(self, *others: UpdaterState) -> UpdaterState:
        """One state holding the entries of this one and ``others`` (keys must not clash)."""
        tensors, meta = dict(self.tensors), dict(self.meta)
        for other in others:
            if tensors.keys() & other.tensors.keys() or meta.keys() & other.meta.keys():
                raise ValueError("updater state parts share a key")
            tensors.update(other.tensors)
            meta.update(other.meta)
        return UpdaterState(tensors=tensors, meta=meta)


class Updater(Protocol):
    name: str

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        """Learn one experience in place on the model the updater was built with."""
        ...

    def state_dict(self) -> UpdaterState:
        """Everything needed to continue exactly where this updater stands."""
        ...

    def load_state_dict(self, state: UpdaterState) -> None:
        """Continue from ``state``; ``StateMismatch`` if it does not fit this updater."""
        ...
