"""Chunks read back on the training device as the updaters expect them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from app.storage import ObjectStore
from worker.chunk_data import load_chunk


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
