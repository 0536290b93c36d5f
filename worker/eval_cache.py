"""Eval splits kept on the worker's device between jobs of a model.

Each job evaluates on every chunk so far; without the cache it reads every earlier split
from storage again. Splits are immutable (a chunk's id names one split for good), so an
entry never goes stale; the cache is bounded in bytes and drops the least recently used
split first (``RELEARN_EVAL_CACHE_BYTES``; 0 turns it off).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import torch

DEFAULT_EVAL_CACHE_BYTES = 512 * 1024**2

Split = tuple[torch.Tensor, torch.Tensor]


def _nbytes(split: Split) -> int:
    return sum(t.numel() * t.element_size() for t in split)


def _compact(t: torch.Tensor) -> torch.Tensor:
    """``t`` alone: a view into a larger buffer (a staged chunk) would keep all of it."""
    return t.clone() if t.untyped_storage().nbytes() > t.numel() * t.element_size() else t


@dataclass
class EvalCache:
    max_bytes: int = DEFAULT_EVAL_CACHE_BYTES
    _splits: OrderedDict[tuple[str, str], Split] = field(default_factory=OrderedDict)
    _bytes: int = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, model_id: str, chunk_id: str) -> Split | None:
        split = self._splits.get((model_id, chunk_id))
        if split is not None:
            self._splits.move_to_end((model_id, chunk_id))
        return split

    def put(self, model_id: str, chunk_id: str, x: torch.Tensor, y: torch.Tensor) -> None:
        """Keep a split (not one larger than the whole budget), dropping the least
        recently used ones to make room."""
        size = _nbytes((x, y))
        key = (model_id, chunk_id)
        if size > self.max_bytes or key in self._splits:
            return
        while self._bytes + size > self.max_bytes:
            _, dropped = self._splits.popitem(last=False)
            self._bytes -= _nbytes(dropped)
        self._splits[key] = (_compact(x), _compact(y))
        self._bytes += size
