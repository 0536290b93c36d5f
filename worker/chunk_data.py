"""A stored chunk, read back into tensors on the training device.

Parsing is ``app.chunk_format.read_chunk``, the torch-free code that validated the upload,
so the worker sees exactly what the API accepted. Each chunk's eval split is also kept as
an object of its own (``storage.eval_split_key``), so that later jobs, which evaluate on
every chunk so far, read eval data only.

A chunk crosses to a CUDA device in one non-blocking copy from pinned memory, its uint8
and float16 features in their own dtype (widened on the device).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import save_file

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


ALIGN_BYTES = 64  # each array's offset in a staged buffer (any dtype can view it there)


def _host_array(a: np.ndarray, features: bool) -> np.ndarray:
    """What crosses to the device: uint8 and float16 features in their own (smaller)
    dtype, widened there; other features as float32; labels as int64."""
    if not features:
        return np.ascontiguousarray(a, dtype=np.int64)
    if a.dtype in (np.uint8, np.float16):
        return np.ascontiguousarray(a)
    return np.ascontiguousarray(a, dtype=np.float32)


def stage(arrays: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """The arrays on ``device``, in their dtypes. On the CPU they are the arrays' own
    memory (no copy); to another device they are packed into one (on CUDA: pinned) host
    buffer and sent in one non-blocking copy, so that the host does not wait for it."""
    if device.type == "cpu":
        return [torch.from_numpy(a) for a in arrays]
    return stage_packed(arrays, device, pin=device.type == "cuda")


def stage_packed(arrays: list[np.ndarray], device: torch.device, pin: bool) -> list[torch.Tensor]:
    offsets, total = [], 0
    for a in arrays:
        offsets.append(total)
        total += -(-a.nbytes // ALIGN_BYTES) * ALIGN_BYTES
    host = torch.empty(total, dtype=torch.uint8, pin_memory=pin)
    packed = host.numpy()
    for a, offset in zip(arrays, offsets, strict=True):
        packed[offset : offset + a.nbytes] = a.reshape(-1).view(np.uint8)
    # The caching host allocator keeps ``host`` until the copy is done, even once freed.
    on_device = host.to(device, non_blocking=pin)
    return [
        on_device[offset : offset + a.nbytes].view(torch.from_numpy(a[:0]).dtype).view(a.shape)
        for a, offset in zip(arrays, offsets, strict=True)
    ]


def widened(t: torch.Tensor) -> torch.Tensor:
    """float32 features, on the tensor's device; uint8 images are scaled to [0, 1]."""
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    return t.float() if t.dtype == torch.float16 else t


def load_chunk(store: ObjectStore, key: str, fmt: str, device: torch.device) -> ChunkTensors:
    with tempfile.TemporaryDirectory(prefix="relearn-") as tmp:
        path = Path(tmp) / f"chunk.{fmt}"
        store.get_file(key, path)
        try:
            arrays = read_chunk(path, fmt)
        except ValueError as exc:
            raise ChunkDataError(str(exc)) from exc
    has_eval = arrays.x_eval is not None and arrays.y_eval is not None
    host = [_host_array(arrays.x, True), _host_array(arrays.y, False)]
    if has_eval:
        assert arrays.x_eval is not None and arrays.y_eval is not None
        host += [_host_array(arrays.x_eval, True), _host_array(arrays.y_eval, False)]
    staged = stage(host, device)
    return ChunkTensors(
        x=widened(staged[0]),
        y=staged[1],
        x_eval=widened(staged[2]) if has_eval else None,
        y_eval=staged[3] if has_eval else None,
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
            arrays = load_numpy(str(path))
        x, y = stage([arrays["x_eval"], arrays["y_eval"]], device)
        return widened(x), y
    data = load_chunk(store, key, fmt, device)
    save_eval_split(store, model_id, chunk_id, data)
    assert data.x_eval is not None and data.y_eval is not None
    return data.x_eval, data.y_eval
