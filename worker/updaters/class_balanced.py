"""A class-balanced replay memory on the training device: an equal share per class seen.

Each class c that has offered n_c items holds q_c of them, the quotas balanced by water
filling: every class gets min(n_c, L) for the largest level L that fits the capacity, the
rest of the room (less than one item per class) going to the classes holding most.
Within a class the kept items are a uniform random q_c-subset of its n_c, by priority
sampling: each item draws a uniform priority once and a class keeps its q_c highest
(the same law as Algorithm R; Avalanche's ``ReservoirSamplingBuffer`` does this per
class in its ``ClassBalancedBuffer``). A quota only shrinks once the memory is full, and
an evicted item always ranked below every kept one, so the kept set stays the top q_c of
all that class's items ever seen. The priorities come from the updater's generator,
which the updater saves, and are saved with the memory.

Each ``add`` reads the batch's class counts on the host (one sync): once per chunk when
samples are offered after or before the fit, once per step with ``last_epoch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from worker.updaters.protocol import StateMismatch, UpdaterState
from worker.updaters.stored_rows import StoredRows

if TYPE_CHECKING:
    from worker.updaters.replay_memory import Derive

POLICY = "class_balanced"
PRIORITY = "priority"
"""Reserved name: the saved priorities sit beside the fields under it."""


def balanced_quotas(
    seen: Mapping[int, int], held: Mapping[int, int], capacity: int
) -> dict[int, int]:
    """q_c for every class: all of ``seen`` if it fits, else min(n_c, L) with L the largest
    level such that Σ min(n_c, L) ≤ capacity, and one more for the r classes that hold
    most (then the lowest ids), r = capacity − Σ min(n_c, L) < the classes above L."""
    if sum(seen.values()) <= capacity:
        return dict(seen)
    quotas: dict[int, int] = {}
    remaining = capacity
    ordered = sorted(seen, key=lambda c: (seen[c], c))
    level = 0
    for position, c in enumerate(ordered):
        left = len(ordered) - position
        if seen[c] * left <= remaining:  # this class fits whole at any level above it
            quotas[c] = seen[c]
            remaining -= seen[c]
            continue
        level = remaining // left
        break
    capped = [c for c in ordered if c not in quotas]
    for c in capped:
        quotas[c] = level
    spare = capacity - sum(quotas.values())
    for c in sorted(capped, key=lambda c: (-held.get(c, 0), c))[:spare]:
        quotas[c] += 1
    return quotas


def draw_priorities(count: int, generator: torch.Generator) -> torch.Tensor:
    """One float64 uniform per offered item, in offer order."""
    return torch.rand(count, dtype=torch.float64, generator=generator, device=generator.device)


class ClassBalancedBuffer(StoredRows):
    """Up to ``capacity`` items of named fields, one of them the label ``y``, kept balanced
    over the classes seen and uniform within each. Same interface as ``ReservoirBuffer``;
    ``fields`` are each (len, ...): the kept rows."""

    def __init__(self, capacity: int, device: torch.device) -> None:
        super().__init__(capacity, device)
        self.class_seen: dict[int, int] = {}  # n_c
        self.class_held: dict[int, int] = {}  # q_c after the last add
        self.priority = torch.empty(0, dtype=torch.float64, device=device)

    def __len__(self) -> int:
        return int(self.priority.shape[0])

    def add(
        self, generator: torch.Generator, derive: Derive | None = None, **batch: torch.Tensor
    ) -> None:
        """Offer a batch (every field has the batch length first; ``y`` holds the labels).
        ``derive`` computes further fields for the admitted rows only."""
        count = self._check_batch(batch, derived=derive is not None)
        if count == 0:
            return
        new_priority = draw_priorities(count, generator)
        labels, counts = torch.unique(batch["y"], return_counts=True)
        before = dict(self.class_seen)
        for c, n in zip(labels.tolist(), counts.tolist(), strict=True):  # the host sync
            self.class_seen[c] = self.class_seen.get(c, 0) + n
        quotas = balanced_quotas(self.class_seen, self.class_held, self.capacity)
        for c, q in quotas.items():
            held = self.class_held.get(c, 0)
            if q > held and before.get(c, 0) > held:  # needs an evicted item: cannot happen
                raise RuntimeError(f"class {c}: quota {q} above the {held} items it kept")
        old = len(self)
        new_y = batch["y"].to(self.device)
        pool_y = torch.cat([self.fields["y"], new_y]) if old else new_y
        pool_priority = torch.cat([self.priority, new_priority.to(self.device)])
        keep = self._top_per_class(pool_y, pool_priority, quotas)
        from_memory, from_batch = keep[keep < old], keep[keep >= old] - old
        admitted = {name: values[from_batch.to(values.device)] for name, values in batch.items()}
        if derive is not None and from_batch.numel() > 0:
            admitted.update(derive(admitted))
        elif derive is not None:  # nothing admitted: empty rows of the stored shapes
            admitted.update({k: v[:0] for k, v in self.fields.items() if k not in admitted})
        if not self.fields:
            self.fields = {
                name: torch.empty((0, *v.shape[1:]), dtype=v.dtype, device=self.device)
                for name, v in admitted.items()
            }
        if admitted.keys() != self.fields.keys():
            raise ValueError(f"fields {sorted(admitted)} differ from {sorted(self.fields)}")
        self.fields = {
            name: torch.cat([stored[from_memory], admitted[name].to(self.device, stored.dtype)])
            for name, stored in self.fields.items()
        }
        self.priority = pool_priority[keep]
        self.class_held = {c: q for c, q in quotas.items() if q > 0}
        self.seen += count

    def state_dict(self, prefix: str = "buffer") -> UpdaterState:
        """The kept rows (``{prefix}.{field}``, ``{prefix}.priority``) and the counters
        (``meta[prefix]``), ready to merge into an updater's state."""
        tensors = {f"{prefix}.{name}": v.clone() for name, v in self.fields.items()}
        tensors[f"{prefix}.{PRIORITY}"] = self.priority.clone()
        meta = {
            "policy": POLICY,
            "capacity": self.capacity,
            "seen": self.seen,
            "class_seen": {str(c): n for c, n in sorted(self.class_seen.items())},
        }
        return UpdaterState(tensors=tensors, meta={prefix: meta})

    def load_state_dict(self, state: UpdaterState, prefix: str = "buffer") -> None:
        """Restore what ``state_dict(prefix)`` saved; ``StateMismatch`` for a reservoir's
        state or another capacity."""
        meta = state.meta[prefix]
        if meta.get("policy") != POLICY:
            raise StateMismatch(
                "memory_policy is class_balanced but the saved memory is a reservoir"
            )
        if int(meta["capacity"]) != self.capacity:
            raise StateMismatch(
                f"memory_size is {self.capacity} but the saved memory has capacity "
                f"{meta['capacity']}"
            )
        class_seen = {int(c): int(n) for c, n in meta["class_seen"].items()}
        priority = state.tensors[f"{prefix}.{PRIORITY}"].to(self.device, torch.float64)
        size = min(int(meta["seen"]), self.capacity)
        fields: dict[str, torch.Tensor] = {}
        for key, rows in state.tensors.items():
            name = key.removeprefix(f"{prefix}.")
            if not key.startswith(f"{prefix}.") or name == PRIORITY:
                continue
            if rows.shape[0] != size or priority.shape[0] != size:
                raise ValueError(f"saved field {name!r} has {rows.shape[0]} rows, expected {size}")
            fields[name] = rows.to(self.device).clone()
        if sum(class_seen.values()) != int(meta["seen"]):
            raise ValueError("saved class counts do not add up to the items seen")
        held: dict[int, int] = {}
        if "y" in fields:
            labels, counts = torch.unique(fields["y"], return_counts=True)
            held = dict(zip(labels.tolist(), counts.tolist(), strict=True))
        self.fields, self.priority, self.seen = fields, priority.clone(), int(meta["seen"])
        self.class_seen, self.class_held = class_seen, held

    def _top_per_class(
        self, labels: torch.Tensor, priority: torch.Tensor, quotas: Mapping[int, int]
    ) -> torch.Tensor:
        """Pool indices (ascending) of the ``quotas[c]`` highest priorities of each class."""
        by_priority = torch.argsort(priority, descending=True, stable=True)
        by_class = torch.argsort(labels[by_priority], stable=True)
        order = by_priority[by_class]  # grouped by class, each group by priority, highest first
        sorted_labels = labels[order]
        rank = torch.arange(order.shape[0], device=order.device) - torch.searchsorted(
            sorted_labels, sorted_labels
        )
        lookup = torch.zeros(max(quotas) + 1, dtype=torch.int64, device=order.device)
        lookup[torch.tensor(list(quotas), device=order.device)] = torch.tensor(
            list(quotas.values()), device=order.device
        )
        return order[rank < lookup[sorted_labels]].sort().values

    def _check_batch(self, batch: dict[str, torch.Tensor], derived: bool = False) -> int:
        if "y" not in batch:
            raise ValueError("a class-balanced memory needs the labels as field 'y'")
        if PRIORITY in batch:
            raise ValueError(f"{PRIORITY!r} is reserved by the class-balanced memory")
        return super()._check_batch(batch, derived)
