"""A chunk file as its headers describe it, before any array data is read.

Both containers (``npz_file``, ``safetensors_file``) parse their headers into
``ArrayHeader`` values and offer the same ``ChunkFile`` reading interface; the rules on
names, on which arrays must be present and on the decoded size are here, once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.chunk_format.errors import ChunkFormatError, DecodedSizeExceeded

TRAIN_KEYS = ("x", "y")
EVAL_KEYS = ("x_eval", "y_eval")
ALLOWED_KEYS = (*TRAIN_KEYS, *EVAL_KEYS)


@dataclass(frozen=True)
class ArrayHeader:
    """One array's dtype and shape, as its container declares them."""

    key: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    fortran_order: bool = False

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize


class ChunkFile(Protocol):
    """An opened chunk file: its headers, and its arrays' data in blocks or whole."""

    @property
    def headers(self) -> Mapping[str, ArrayHeader]: ...

    def blocks(self, key: str, block_bytes: int) -> Iterator[np.ndarray]:
        """The array's elements in storage order, as 1-d arrays of at most
        ``block_bytes`` each (memory stays bounded by the block, not the array)."""
        ...

    def read(self, key: str) -> np.ndarray:
        """The whole array, writeable, shaped as its header says."""
        ...


def key_of(name: str, suffix: str = "") -> str:
    """The array key an archive member or tensor name stands for; 422 for any other name."""
    key = name[: -len(suffix)] if suffix and name.endswith(suffix) else name
    if key not in ALLOWED_KEYS:
        shown = key if len(key) <= 64 else key[:61] + "..."
        raise ChunkFormatError(f"file.{shown}", f"unknown key; allowed: {', '.join(ALLOWED_KEYS)}")
    return key


def check_keys(headers: Mapping[str, ArrayHeader]) -> None:
    """``x`` and ``y`` present; the eval pair both or neither."""
    for key in TRAIN_KEYS:
        if key not in headers:
            raise ChunkFormatError(f"file.{key}", "missing: a chunk needs both x and y")
    for key, partner in (EVAL_KEYS, EVAL_KEYS[::-1]):
        if key in headers and partner not in headers:
            raise ChunkFormatError(f"file.{partner}", f"missing: {key} given without {partner}")


def check_decoded_size(total: int, limit: int | None) -> None:
    if limit is not None and total > limit:
        raise DecodedSizeExceeded(
            "file", f"arrays would take {total} bytes decoded, more than the limit of {limit}"
        )
