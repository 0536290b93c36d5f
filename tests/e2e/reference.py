"""What the service should compute, computed in one process with the same code and seed."""

from __future__ import annotations

import io

import numpy as np
import torch
from safetensors.torch import load as load_safetensors

from app.architectures import BUILTINS, ArchitectureSpec, validate_architecture
from app.schemas.updaters import TrainingConfig, validate_updater
from tests.e2e.data import ChunkData
from worker.architectures import build_model, initial_model
from worker.updaters.protocol import Experience
from worker.updaters.registry import build_updater


def uninterrupted_run(
    body: dict, chunks: list[ChunkData], initial: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """Train the chunks one after another with one updater object, no save/load between,
    from the seeded initialisation or from ``initial`` weights. uint8 images are scaled to
    [0, 1], as the service does.

    Single-threaded like the e2e workers (``OMP_NUM_THREADS=1``): CPU kernels' reduction
    order, hence the last bits of the weights, depends on the thread count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _uninterrupted_run(body, chunks, initial)
    finally:
        torch.set_num_threads(threads)


def _uninterrupted_run(
    body: dict, chunks: list[ChunkData], initial: dict[str, torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    architecture = spec_of(body)
    training = TrainingConfig.model_validate(body["training"])
    model = initial_model(architecture, training.seed)
    if initial is not None:
        model.load_state_dict(initial, strict=True)
    updater = build_updater(validate_updater(body["updater"]), model, training, torch.device("cpu"))
    for chunk in chunks:
        updater.fit(Experience(features(chunk.x), torch.from_numpy(chunk.y)))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def features(x: np.ndarray) -> torch.Tensor:
    """What the model sees: float32, uint8 images scaled to [0, 1]."""
    tensor = torch.from_numpy(x)
    return tensor.float() / 255 if tensor.dtype == torch.uint8 else tensor.float()


def spec_of(body: dict) -> ArchitectureSpec:
    """The body's architecture; an entry-point one (validated by the API against what the
    workers announce) is taken as given."""
    name = body["architecture"]["name"]
    if name in BUILTINS:
        return validate_architecture(body["architecture"])
    return ArchitectureSpec.model_validate(body["architecture"])


def weights_from_artifact(content: bytes) -> dict[str, torch.Tensor]:
    return load_safetensors(content)


def accuracy_of(
    weights: dict[str, torch.Tensor], body: dict, x: np.ndarray, y: np.ndarray
) -> float:
    with torch.no_grad():
        predicted = build_loaded(weights, body)(features(x)).argmax(dim=1).numpy()
    return float((predicted == y).mean())


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def build_loaded(weights: dict[str, torch.Tensor], body: dict) -> torch.nn.Module:
    model = build_model(spec_of(body))
    model.load_state_dict(weights, strict=True)
    return model.eval()
