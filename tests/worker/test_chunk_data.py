"""Chunks read back on the training device as the updaters expect them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.storage import ObjectStore
from worker.chunk_data import load_chunk, stage, stage_packed


def _stored(tmp_path: Path, **arrays: np.ndarray) -> tuple[ObjectStore, str]:
    store = ObjectStore(str(tmp_path / "objects"))
    path = tmp_path / "chunk.npz"
    np.savez(path, **arrays)
    store.put_file(path, "chunks/c.npz")
    return store, "chunks/c.npz"


def test_uint8_images_are_scaled_to_the_unit_interval(tmp_path: Path) -> None:
    # given a chunk of uint8 images and an eval split of them
    x = np.arange(2 * 1 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4) * 8
    x[1, 0, 3, 3] = 255
    store, key = _stored(tmp_path, x=x, y=np.array([0, 1]), x_eval=x, y_eval=np.array([0, 1]))

    # when the worker loads it
    data = load_chunk(store, key, "npz", torch.device("cpu"))

    # then the features are float32 in [0, 1], value / 255, with the images' shape
    assert data.x.dtype == torch.float32 and data.x.shape == (2, 1, 4, 4)
    expected = torch.from_numpy(x.astype(np.float32) / 255.0)
    assert torch.allclose(data.x, expected)
    assert float(data.x.max()) == 1.0 and float(data.x.min()) == 0.0
    assert data.x_eval is not None and torch.allclose(data.x_eval, expected)


def test_float16_features_are_widened_without_change(tmp_path: Path) -> None:
    # given float16 features
    x = np.array([[0.5, -2.0, 1024.0]], dtype=np.float16)
    store, key = _stored(tmp_path, x=x, y=np.array([1]))

    # when loaded, then they are float32 with the same values (not scaled)
    data = load_chunk(store, key, "npz", torch.device("cpu"))
    assert data.x.dtype == torch.float32
    assert data.x.tolist() == [[0.5, -2.0, 1024.0]]


STAGED = {
    "images": np.arange(3 * 5, dtype=np.uint8).reshape(3, 5),
    "halves": np.array([[0.5, -2.0], [1024.0, 3.0], [7.0, 0.0]], dtype=np.float16),
    "floats": np.linspace(-1, 1, 7, dtype=np.float32),
    "labels": np.array([3, 1, 4], dtype=np.int64),
    "empty": np.zeros((0, 4), dtype=np.float32),
}


def test_packed_staging_is_one_buffer_with_every_array_intact() -> None:
    # when arrays of several dtypes and sizes are packed for one copy (unpinned here)
    staged = stage_packed(list(STAGED.values()), torch.device("cpu"), pin=False)

    # then each comes back with its dtype, shape and values, all in one buffer
    for (name, array), tensor in zip(STAGED.items(), staged, strict=True):
        assert tensor.dtype == torch.from_numpy(array).dtype, name
        assert np.array_equal(tensor.numpy(), array), name
    assert len({t.untyped_storage().data_ptr() for t in staged}) == 1


def test_on_the_cpu_staging_copies_nothing() -> None:
    array = STAGED["floats"]
    (tensor,) = stage([array], torch.device("cpu"))
    assert tensor.data_ptr() == array.ctypes.data


@pytest.mark.gpu
def test_chunks_cross_to_cuda_in_their_dtype_and_are_widened_there(tmp_path: Path) -> None:
    # given uint8 images with an eval split
    x = np.arange(2 * 16, dtype=np.uint8).reshape(2, 1, 4, 4) * 8
    store, key = _stored(tmp_path, x=x, y=np.array([0, 1]), x_eval=x, y_eval=np.array([1, 0]))

    # when loaded onto the GPU, then the values are those loaded on the CPU
    on_gpu = load_chunk(store, key, "npz", torch.device("cuda"))
    on_cpu = load_chunk(store, key, "npz", torch.device("cpu"))
    for name in ("x", "y", "x_eval", "y_eval"):
        assert getattr(on_gpu, name).device.type == "cuda"
        assert torch.equal(getattr(on_gpu, name).cpu(), getattr(on_cpu, name)), name
