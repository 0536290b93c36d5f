"""Updater state on disk: tensors in safetensors, the rest in JSON. Never pickle."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from worker.updaters.protocol import UpdaterState


def save_state(state: UpdaterState, tensors_path: Path, meta_path: Path) -> None:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.tensors.items()}
    save_file(tensors, str(tensors_path))
    meta_path.write_text(json.dumps(state.meta, sort_keys=True))


def load_state(
    tensors_path: Path, meta_path: Path, device: torch.device | str = "cpu"
) -> UpdaterState:
    tensors = load_file(str(tensors_path), device=str(device))
    return UpdaterState(tensors=tensors, meta=json.loads(meta_path.read_text()))
