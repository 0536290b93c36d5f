"""Small synthetic class-incremental chunks, written as a client would upload them."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from safetensors.numpy import save as save_safetensors

INPUT_DIM = 8
NUM_CLASSES = 6


@dataclass
class ChunkData:
    x: np.ndarray
    y: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray

    def npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, x=self.x, y=self.y, x_eval=self.x_eval, y_eval=self.y_eval)
        return buffer.getvalue()

    def safetensors(self) -> bytes:
        return save_safetensors(
            {"x": self.x, "y": self.y, "x_eval": self.x_eval, "y_eval": self.y_eval}
        )


def class_incremental_chunks(count: int, n: int = 96, seed: int = 0) -> list[ChunkData]:
    """Chunk i holds classes 2i and 2i+1 (mod NUM_CLASSES), Gaussian blobs around fixed
    class centres, so that a model learns each and can forget earlier ones."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(NUM_CLASSES, INPUT_DIM)).astype(np.float32)

    def draw(classes: tuple[int, int], size: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.choice(np.array(classes), size=size).astype(np.int64)
        x = (centres[y] + rng.normal(0, 1, size=(size, INPUT_DIM))).astype(np.float32)
        return x, y

    chunks = []
    for i in range(count):
        classes = ((2 * i) % NUM_CLASSES, (2 * i + 1) % NUM_CLASSES)
        x, y = draw(classes, n)
        x_eval, y_eval = draw(classes, n // 2)
        chunks.append(ChunkData(x, y, x_eval, y_eval))
    return chunks


def model_body(name: str, updater: dict, epochs: int = 2, seed: int = 7) -> dict:
    return {
        "name": name,
        "architecture": {
            "name": "mlp",
            "params": {"input_dim": INPUT_DIM, "hidden": [16], "num_classes": NUM_CLASSES},
        },
        "updater": updater,
        "training": {"epochs": epochs, "batch_size": 16, "lr": 0.05, "seed": seed},
    }
