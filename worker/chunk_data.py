"""A stored chunk, read back into tensors on the training device.

Parsing is ``app.chunk_format.read_chunk`` (the same torch-free code that validated the
upload), so the worker sees exactly what the API accepted.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from app.chunk_format import read_chunk
from app.storage import ObjectStore


class ChunkDataError(Exception):
    """The stored chunk cannot be used (it should have been rejected at upload)."""


@dataclass
class ChunkTensors:
    x: torch.Tensor
    y: torch.Tensor
    x_eval: torch.Tensor | None
    y_eval: torch.Tensor | None


def _features(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)


def _labels(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)


def load_chunk(store: ObjectStore, key: str, fmt: str, device: torch.device) -> ChunkTensors:
    with tempfile.TemporaryDirectory(prefix="relearn-") as tmp:
        path = Path(tmp) / f"chunk.{fmt}"
        store.get_file(key, path)
        try:
            arrays = read_chunk(path, fmt)
        except ValueError as exc:
            raise ChunkDataError(str(exc)) from exc
    has_eval = arrays.x_eval is not None and arrays.y_eval is not None
    return ChunkTensors(
        x=_features(arrays.x, device),
        y=_labels(arrays.y, device),
        x_eval=_features(arrays.x_eval, device) if has_eval else None,
        y_eval=_labels(arrays.y_eval, device) if has_eval else None,
    )
