"""Small synthetic class-incremental image chunks (N, C, H, W), float or uint8, and
pretrained-looking weights for an architecture."""

from __future__ import annotations

import numpy as np
import torch

from app.architectures import ArchitectureSpec
from tests.e2e.data import ChunkData
from worker.architectures import initial_model


def image_chunks(
    count: int,
    shape: tuple[int, int, int],
    num_classes: int,
    n: int = 32,
    seed: int = 0,
    dtype: type[np.generic] = np.float32,
) -> list[ChunkData]:
    """Chunk i holds classes 2i and 2i+1 (mod ``num_classes``): each class a fixed random
    pattern plus noise. uint8 chunks hold the same images times 255 (what the worker
    scales back to [0, 1])."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0, 1, size=(num_classes, *shape)).astype(np.float32)

    def draw(classes: tuple[int, int], size: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.choice(np.array(classes), size=size).astype(np.int64)
        x = np.clip(patterns[y] + rng.normal(0, 0.2, size=(size, *shape)), 0, 1)
        if dtype == np.uint8:
            return np.round(x * 255).astype(np.uint8), y
        return x.astype(np.float32), y

    chunks = []
    for i in range(count):
        classes = ((2 * i) % num_classes, (2 * i + 1) % num_classes)
        x, y = draw(classes, n)
        x_eval, y_eval = draw(classes, n // 2)
        chunks.append(ChunkData(x, y, x_eval, y_eval))
    return chunks


def pretrained_weights(architecture: ArchitectureSpec, seed: int = 99) -> dict[str, torch.Tensor]:
    """Weights as if trained elsewhere: another seed's initialisation, with BatchNorm
    running statistics moved off their initial 0 and 1."""
    state = initial_model(architecture, seed).state_dict()
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in state.items():
        if name.endswith("running_mean"):
            state[name] = torch.randn(tensor.shape, generator=generator) * 0.1
        elif name.endswith("running_var"):
            state[name] = torch.rand(tensor.shape, generator=generator) + 0.5
        elif name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(40)
    return state
