"""What both replay memories (reservoir, class-balanced) do alike: hold rows of named
fields on the device, check what is offered, offer long streams in blocks, and sample."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from worker.updaters.rng import distinct_indices

if TYPE_CHECKING:
    from worker.updaters.replay_memory import Derive


class StoredRows:
    noun = "memory"
    """How error messages call this memory."""

    def __init__(self, capacity: int, device: torch.device) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.device = device
        self.seen = 0  # items offered so far, over the whole stream
        self.fields: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        raise NotImplementedError

    def add(
        self, generator: torch.Generator, derive: Derive | None = None, **batch: torch.Tensor
    ) -> None:
        raise NotImplementedError

    def add_all(
        self,
        generator: torch.Generator,
        block: int = 65536,
        derive: Derive | None = None,
        **items: torch.Tensor,
    ) -> None:
        """Offer many items in order, ``block`` at a time (bounds the temporaries); the
        same result as one ``add`` of them all."""
        count = self._check_batch(items, derived=derive is not None)
        for start in range(0, count, block):
            part = {k: v[start : start + block] for k, v in items.items()}
            self.add(generator, derive=derive, **part)

    def sample(self, k: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """min(k, len) distinct stored items, drawn uniformly (a device ``randperm``)."""
        size = len(self)
        if size == 0:
            raise ValueError(f"cannot sample from an empty {self.noun}")
        index = distinct_indices(size, k, generator).to(self.device)
        return {name: values[index] for name, values in self.fields.items()}

    def _check_batch(self, batch: dict[str, torch.Tensor], derived: bool = False) -> int:
        """The batch length, once every field has it and the fields are those stored
        (``derived``: those ``derive`` adds may be missing)."""
        if not batch:
            raise ValueError("a batch needs at least one field")
        lengths = {values.shape[0] for values in batch.values()}
        if len(lengths) != 1:
            raise ValueError(f"fields differ in length: {sorted(lengths)}")
        if self.fields:
            if (batch.keys() - self.fields.keys()) or (
                not derived and batch.keys() != self.fields.keys()
            ):
                raise ValueError(f"fields {sorted(batch)} differ from {sorted(self.fields)}")
            for name, values in batch.items():
                if values.shape[1:] != self.fields[name].shape[1:]:
                    raise ValueError(
                        f"field {name!r} has item shape {tuple(values.shape[1:])}, "
                        f"the {self.noun} holds {tuple(self.fields[name].shape[1:])}"
                    )
        return lengths.pop()
