"""A chunk's arrays in memory, for the worker (which trains on them anyway)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from app.chunk_format.containers import open_chunk


@dataclass(frozen=True)
class ChunkArrays:
    x: np.ndarray
    y: np.ndarray
    x_eval: np.ndarray | None = None
    y_eval: np.ndarray | None = None

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0]) if self.x.ndim else 0

    @property
    def num_eval(self) -> int:
        return int(self.x_eval.shape[0]) if self.x_eval is not None and self.x_eval.ndim else 0


def read_chunk(
    path: str | os.PathLike[str], fmt: str, *, max_decoded_bytes: int | None = None
) -> ChunkArrays:
    """Parse a chunk file into writeable numpy arrays, each read straight into its own
    buffer (peak memory: the arrays plus one read slice). The structure is checked as in
    ``open_chunk``; the values are not: the API checked them at upload (``check_chunk``)."""
    with open_chunk(path, fmt, max_decoded_bytes=max_decoded_bytes) as chunk:
        arrays = {key: chunk.read(key) for key in chunk.headers}
    return ChunkArrays(
        x=arrays["x"], y=arrays["y"], x_eval=arrays.get("x_eval"), y_eval=arrays.get("y_eval")
    )
