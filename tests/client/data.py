"""Models and chunks for the client tests (the end-to-end tests' synthetic data)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.e2e.data import INPUT_DIM, NUM_CLASSES, ChunkData, class_incremental_chunks

__all__ = ["INPUT_DIM", "NUM_CLASSES", "arrays", "chunks", "slow_arrays", "spec"]


def spec(name: str, epochs: int = 1) -> dict[str, Any]:
    """A full ``POST /v1/models`` body: a small MLP trained with ER."""
    return {
        "name": name,
        "architecture": {
            "name": "mlp",
            "params": {"input_dim": INPUT_DIM, "hidden": [16], "num_classes": NUM_CLASSES},
        },
        "updater": {"name": "er", "params": {"memory_size": 20}},
        "training": {"epochs": epochs, "batch_size": 16, "lr": 0.05, "seed": 7},
    }


def arrays(chunk: ChunkData) -> dict[str, np.ndarray]:
    return {"x": chunk.x, "y": chunk.y, "x_eval": chunk.x_eval, "y_eval": chunk.y_eval}


def chunks(count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    return [arrays(c) for c in class_incremental_chunks(count, seed=seed)]


def slow_arrays() -> dict[str, np.ndarray]:
    """A chunk whose job runs for seconds on a CPU worker (with ``spec(epochs=...)``
    high): long enough to see it queued or running."""
    (chunk,) = class_incremental_chunks(1, n=4000, seed=3)
    return {"x": chunk.x, "y": chunk.y}
