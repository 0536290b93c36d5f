"""A stored chunk, read back into tensors on the training device.

Parsing is ``app.chunk_format.read_chunk``, the torch-free code that validated the upload,
so the worker sees exactly what the API accepted. Each chunk's eval split is also kept as
an object of its own (``storage.eval_split_key``), so that later jobs, which evaluate on
every chunk so far, read eval data only.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from app.chunk_format import read_chunk
from app.storage import ObjectStore, eval_split_key


class ChunkDataError(Exception):
    """The stored chunk cannot be used (it should have been rejected at upload)."""


@dataclass
class ChunkTensors:
    x: torch.Tensor
    y: torch.Tensor
    x_eval: torch.Tensor | None
    y_eval: torch.Tensor | None


def _features(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 features on ``device``. uint8 images and float16 arrays cross to the device
    in their own (smaller) dtype and are widened there; uint8 is scaled to [0, 1]."""
    if a.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device).float().div_(255.0)
    if a.dtype == np.float16:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device).float()
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
    x_eval = y_eval = None
    if arrays.x_eval is not None and arrays.y_eval is not None:
        x_eval, y_eval = _features(arrays.x_eval, device), _labels(arrays.y_eval, device)
    return ChunkTensors(
        x=_features(arrays.x, device), y=_labels(arrays.y, device), x_eval=x_eval, y_eval=y_eval
    )


def save_eval_split(store: ObjectStore, model_id: str, chunk_id: str, data: ChunkTensors) -> None:
    if data.x_eval is None or data.y_eval is None:
        return
    with tempfile.TemporaryDirectory(prefix="relearn-") as tmp:
        path = Path(tmp) / "eval.safetensors"
        save_file({"x_eval": data.x_eval.cpu(), "y_eval": data.y_eval.cpu()}, str(path))
        store.put_file(path, eval_split_key(model_id, chunk_id))


def load_eval_split(
    store: ObjectStore, model_id: str, chunk_id: str, key: str, fmt: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """A chunk's eval split: from its own object, or from the chunk (then saved alone)."""
    split_key = eval_split_key(model_id, chunk_id)
    if store.exists(split_key):
        with tempfile.TemporaryDirectory(prefix="relearn-") as tmp:
            path = Path(tmp) / "eval.safetensors"
            store.get_file(split_key, path)
            tensors = load_file(str(path), device=str(device))
        return tensors["x_eval"], tensors["y_eval"]
    data = load_chunk(store, key, fmt, device)
    save_eval_split(store, model_id, chunk_id, data)
    assert data.x_eval is not None and data.y_eval is not None
    return data.x_eval, data.y_eval
