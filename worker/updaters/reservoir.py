"""A reservoir-sampled replay memory on the training device (Vitter 1985, Algorithm R).

Every item of the stream (counted across chunks) stays in the memory with the same
probability, capacity / items seen. Reference libraries get this slightly wrong: Renate
draws the slot from [0, n) and re-seeds when loaded; Mammoth draws from the global numpy
RNG, which is not saved. Here a whole batch goes in at once on the device, with no host
sync, and the draws come from the updater's generator, which the updater saves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from worker.updaters.protocol import StateMismatch, UpdaterState
from worker.updaters.stored_rows import StoredRows

if TYPE_CHECKING:
    from worker.updaters.replay_memory import Derive

DROPPED = -1
"""Slot of an item that Algorithm R does not keep."""


def reservoir_slots(
    first: int, count: int, capacity: int, generator: torch.Generator
) -> torch.Tensor:
    """The slot Algorithm R gives items number ``first`` .. ``first + count - 1``: item n
    takes slot n while n < capacity, else j ~ U{0, ..., n} if j < capacity, else
    ``DROPPED``. One float64 uniform per item, also for those filling an empty slot, so the
    number of draws depends only on the batch sizes."""
    device = generator.device
    position = torch.arange(first, first + count, device=device)  # n of each item
    uniform = torch.rand(count, dtype=torch.float64, generator=generator, device=device)
    # j ~ U{0, ..., n} inclusive: floor(u·(n+1)) for u in [0, 1). The product can round up
    # to n+1 when u is within 2^-53 of 1; the clamp keeps j in range.
    drawn = torch.floor(uniform * (position + 1).to(torch.float64)).to(torch.int64)
    drawn = torch.minimum(drawn, position)
    slot = torch.where(position < capacity, position, drawn)
    return torch.where(slot < capacity, slot, DROPPED)


def with_derived(
    batch: dict[str, torch.Tensor], derive: Derive, admitted: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``batch`` plus the fields ``derive`` computes, for the ``admitted`` rows only (the
    others are zeros: no slot reads them)."""
    index = admitted.nonzero().squeeze(1)  # one host sync
    rows = {name: values[index.to(values.device)] for name, values in batch.items()}
    extra = derive(rows) if index.numel() > 0 else {}
    out = dict(batch)
    count = admitted.shape[0]
    for name, values in extra.items():
        full = torch.zeros((count, *values.shape[1:]), dtype=values.dtype, device=values.device)
        full[index.to(values.device)] = values
        out[name] = full
    return out


class ReservoirBuffer(StoredRows):
    """Up to ``capacity`` items of named fields (``x``, ``y``, DER's logits ...), stored as
    given, kept as a uniform sample of the stream. ``fields`` are each (capacity, ...),
    filled in [0, len)."""

    noun = "reservoir"

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def add(
        self, generator: torch.Generator, derive: Derive | None = None, **batch: torch.Tensor
    ) -> None:
        """Offer a batch of items (every field has the batch length first) to the reservoir;
        of several items drawn for one slot the last wins, as in Algorithm R's loop.
        ``derive`` computes further fields for the items given a slot only."""
        count = self._check_batch(batch, derived=derive is not None)
        slots = reservoir_slots(self.seen, count, self.capacity, generator)
        if derive is not None:
            batch = with_derived(batch, derive, slots >= 0)
            for name in self.fields.keys() - batch.keys():  # no item was given a slot
                stored = self.fields[name]
                batch[name] = stored.new_zeros((count, *stored.shape[1:]))
        if not self.fields:  # allocated from the first batch's shapes and dtypes
            self.fields = {
                name: torch.zeros(
                    (self.capacity, *values.shape[1:]), dtype=values.dtype, device=self.device
                )
                for name, values in batch.items()
            }
        elif batch.keys() != self.fields.keys():
            raise ValueError(f"fields {sorted(batch)} differ from {sorted(self.fields)}")
        item = torch.arange(count, device=self.device)
        # Dropped items aim at a spare index ``capacity`` so that no host-side filter is needed.
        aimed = torch.where(slots >= 0, slots, self.capacity)
        last_writer = torch.full((self.capacity + 1,), DROPPED, device=self.device)
        last_writer.scatter_reduce_(0, aimed, item, reduce="amax")  # later item wins
        # Each item writes the final value of its slot (dropped items rewrite slot 0 with
        # slot 0's final value), so duplicate indices below all carry the same value.
        target = slots.clamp_min(0)
        writer = last_writer[target]
        overwritten = writer >= 0
        source = writer.clamp_min(0)
        for name, values in batch.items():
            stored = self.fields[name]
            keep_shape = (count,) + (1,) * (stored.dim() - 1)
            final = torch.where(
                overwritten.view(keep_shape), values[source].to(stored.dtype), stored[target]
            )
            stored[target] = final
        self.seen += count

    def state_dict(self, prefix: str = "buffer") -> UpdaterState:
        """The filled rows of every field (as ``{prefix}.{field}``) and the counters (under
        ``meta[prefix]``), ready to merge into an updater's state. The generator is not
        included: the updater that owns it saves it."""
        size = len(self)
        return UpdaterState(
            tensors={f"{prefix}.{name}": v[:size].clone() for name, v in self.fields.items()},
            meta={prefix: {"capacity": self.capacity, "seen": self.seen}},
        )

    def load_state_dict(self, state: UpdaterState, prefix: str = "buffer") -> None:
        """Restore from an updater's state holding what ``state_dict(prefix)`` returned;
        ``StateMismatch`` for a class-balanced memory's state or another capacity."""
        if "policy" in state.meta[prefix]:
            raise StateMismatch(
                f"memory_policy is reservoir but the saved memory is {state.meta[prefix]['policy']}"
            )
        capacity, seen = int(state.meta[prefix]["capacity"]), int(state.meta[prefix]["seen"])
        if capacity != self.capacity:
            raise StateMismatch(
                f"memory_size is {self.capacity} but the saved reservoir has capacity "
                f"{capacity}: a reservoir sample cannot be resized and stay uniform"
            )
        size = min(seen, capacity)
        fields: dict[str, torch.Tensor] = {}
        for key, rows in state.tensors.items():
            if not key.startswith(f"{prefix}."):
                continue
            name = key.removeprefix(f"{prefix}.")
            if rows.shape[0] != size:
                raise ValueError(f"saved field {name!r} has {rows.shape[0]} rows, expected {size}")
            stored = torch.zeros((capacity, *rows.shape[1:]), dtype=rows.dtype, device=self.device)
            stored[:size] = rows.to(self.device)
            fields[name] = stored
        self.fields, self.seen = fields, seen
