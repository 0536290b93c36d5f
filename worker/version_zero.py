"""The module version 0 holds: the architecture's own seeded initialisation, or the
user's uploaded weights loaded strictly into it.

Uploaded tensors must match the module's ``state_dict`` name for name, shape for shape
and dtype for dtype, so that loading copies them exactly and version 0's artifact holds
the uploaded tensors bit for bit. A misfit (``WeightsMisfit``) is permanent: the model
fails with a message naming the tensor, the expected and the actual shape.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from app.architectures import ArchitectureSpec
from app.pretrained_weights import (
    Expected,
    WeightsFileError,
    misfit_message,
    misfits,
    read_weights,
)
from app.services.models import MAX_PARAMETERS
from app.storage import ObjectStore
from worker.architectures import initial_model

SAFETENSORS_DTYPES = {
    torch.bool: "BOOL",
    torch.uint8: "U8",
    torch.int8: "I8",
    torch.int16: "I16",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float32: "F32",
    torch.float64: "F64",
}


class WeightsMisfit(Exception):
    """The uploaded weights (or the module itself) cannot make version 0."""


def make_initial_model(
    store: ObjectStore, architecture: ArchitectureSpec, seed: int, weights_key: str | None
) -> nn.Module:
    """The version-0 module, on the CPU."""
    model = initial_model(architecture, seed)
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        raise WeightsMisfit(
            f"the model has {count} parameters, more than the {MAX_PARAMETERS} this service accepts"
        )
    if weights_key is None:
        return model
    with tempfile.TemporaryDirectory(prefix="relearn-weights-") as tmp:
        path = Path(tmp) / "weights.safetensors"
        store.get_file(weights_key, path)
        try:
            uploaded = read_weights(path)
        except WeightsFileError as exc:
            raise WeightsMisfit(f"weights: {exc}") from None
        expected = {
            name: Expected(tuple(t.shape), SAFETENSORS_DTYPES.get(t.dtype, str(t.dtype)))
            for name, t in model.state_dict().items()
        }
        problems = misfits(expected, {n: Expected(t.shape, t.dtype) for n, t in uploaded.items()})
        if problems:
            raise WeightsMisfit(misfit_message(problems))
        model.load_state_dict(load_file(str(path)), strict=True)
    return model
