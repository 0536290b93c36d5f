"""Request bodies and chunk files as clients send them (valid ones and broken ones)."""

from __future__ import annotations

import io
import uuid
from typing import Any

import numpy as np
from safetensors.numpy import save as save_safetensors

INPUT_DIM = 4
NUM_CLASSES = 3


def model_body(**overrides: Any) -> dict[str, Any]:
    """A valid registration; its default name is unique (names are, per tenant)."""
    body: dict[str, Any] = {
        "name": f"digits-{uuid.uuid4().hex[:8]}",
        "architecture": {
            "name": "mlp",
            "params": {"input_dim": INPUT_DIM, "hidden": [8], "num_classes": NUM_CLASSES},
        },
    }
    body.update(overrides)
    return body


def chunk_arrays(n: int = 12, n_eval: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "x": rng.normal(size=(n, INPUT_DIM)).astype(np.float32),
        "y": rng.integers(0, NUM_CLASSES, size=n).astype(np.int64),
    }
    if n_eval:
        arrays["x_eval"] = rng.normal(size=(n_eval, INPUT_DIM)).astype(np.float32)
        arrays["y_eval"] = rng.integers(0, NUM_CLASSES, size=n_eval).astype(np.int64)
    return arrays


def npz_bytes(arrays: dict[str, Any], compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def safetensors_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    return save_safetensors({k: np.ascontiguousarray(v) for k, v in arrays.items()})
