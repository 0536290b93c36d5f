"""What the service should compute, computed in one process with the same code and seed."""

from __future__ import annotations

import io

import numpy as np
import torch
from safetensors.torch import load as load_safetensors

from app.architectures import ArchitectureSpec, initial_weights, validate_architecture
from app.schemas.updaters import TrainingConfig, validate_updater
from tests.e2e.data import ChunkData
from worker.architectures import build_model
from worker.updaters.protocol import Experience
from worker.updaters.registry import build_updater


def uninterrupted_run(body: dict, chunks: list[ChunkData]) -> dict[str, torch.Tensor]:
    """Train the chunks one after another with one updater object, no save/load between.

    Single-threaded like the e2e workers (``OMP_NUM_THREADS=1``): CPU kernels' reduction
    order, hence the last bits of the weights, depends on the thread count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _uninterrupted_run(body, chunks)
    finally:
        torch.set_num_threads(threads)


def _uninterrupted_run(body: dict, chunks: list[ChunkData]) -> dict[str, torch.Tensor]:
    architecture: ArchitectureSpec = validate_architecture(body["architecture"])
    training = TrainingConfig.model_validate(body["training"])
    model = build_model(architecture.name, architecture.params)
    model.load_state_dict(
        {k: torch.from_numpy(v) for k, v in initial_weights(architecture, training.seed).items()}
    )
    updater = build_updater(validate_updater(body["updater"]), model, training, torch.device("cpu"))
    for chunk in chunks:
        updater.fit(Experience(torch.from_numpy(chunk.x), torch.from_numpy(chunk.y)))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def weights_from_artifact(content: bytes) -> dict[str, torch.Tensor]:
    return load_safetensors(content)


def accuracy_of(
    weights: dict[str, torch.Tensor], body: dict, x: np.ndarray, y: np.ndarray
) -> float:
    with torch.no_grad():
        predicted = build_loaded(weights, body)(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((predicted == y).mean())


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def build_loaded(weights: dict[str, torch.Tensor], body: dict) -> torch.nn.Module:
    architecture = validate_architecture(body["architecture"])
    model = build_model(architecture.name, architecture.params)
    model.load_state_dict(weights, strict=True)
    return model.eval()
