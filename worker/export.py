"""Artifacts a user downloads: a safetensors state_dict and a ``torch.export`` program.

The ``.pt2`` program runs with plain PyTorch (``torch.export.load(path).module()(x)``),
without relearn installed, on a float32 batch of any size (dynamic batch dimension).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn


def save_weights(
    model: nn.Module, path: Path, architecture: dict[str, Any], extra: dict[str, str]
) -> None:
    """state_dict as safetensors; the architecture JSON goes into the file's metadata so
    the artifact alone says how to rebuild the module."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    metadata = {"relearn.architecture": json.dumps(architecture, sort_keys=True), **extra}
    save_file(tensors, str(path), metadata=metadata)


def export_program(model: nn.Module, input_shape: tuple[int, ...], path: Path) -> None:
    """``torch.export`` the model in eval mode, on the CPU, with a dynamic batch size."""
    module = copy.deepcopy(model).to("cpu").eval()
    example = torch.zeros((2, *input_shape), dtype=torch.float32)
    batch = torch.export.Dim("batch", min=1, max=2**20)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
