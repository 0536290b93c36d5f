"""Reading a published version's objects and writing a new version's objects.

A version lives under one storage prefix: ``model.safetensors`` (the artifact),
``model.pt2`` (the exported program, written after publication by
``worker/program_export.py``), ``state.safetensors`` + ``state.json`` (the
updater's tensors and JSON state, tagged with the updater's name; version 0 has none: a
fresh start).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from app.architectures import ArchitectureSpec
from app.storage import MODEL_FILE, STATE_FILE, STATE_META_FILE, ObjectStore, sha256_file
from worker.architectures import build_model
from worker.export import save_weights
from worker.updaters.protocol import UpdaterState
from worker.updaters.state_io import load_state, save_state


@dataclass
class SavedState:
    """An updater's state as a version stores it: which updater wrote it, and the state."""

    updater: str
    state: UpdaterState


@dataclass
class WrittenVersion:
    artifact_sha256: str
    artifact_size: int
    pt2_sha256: str | None = None  # the program follows publication
    stored_bytes: int = 0  # every object written (the model's storage_bytes grow by it)


def load_model(
    store: ObjectStore, prefix: str, architecture: ArchitectureSpec, device: torch.device
) -> nn.Module:
    model = build_model(architecture)
    with tempfile.TemporaryDirectory(prefix="relearn-") as tmp:
        path = Path(tmp) / MODEL_FILE
        store.get_file(f"{prefix}/{MODEL_FILE}", path)
        model.load_state_dict(load_file(str(path)), strict=True)
    return model.to(device)


def load_saved_state(store: ObjectStore, prefix: str, device: torch.device) -> SavedState | None:
    """The updater state of a version, or None (version 0 has none: a fresh start)."""
    if not store.exists(f"{prefix}/{STATE_META_FILE}"):
        return None
    with tempfile.TemporaryDirectory(prefix="relearn-") as tmp:
        tensors, meta = Path(tmp) / STATE_FILE, Path(tmp) / STATE_META_FILE
        store.get_file(f"{prefix}/{STATE_FILE}", tensors)
        store.get_file(f"{prefix}/{STATE_META_FILE}", meta)
        wrapped = load_state(tensors, meta, device)
    # state.json is {"updater": name, "state": the updater's own JSON state}
    return SavedState(
        updater=wrapped.meta["updater"],
        state=UpdaterState(tensors=wrapped.tensors, meta=wrapped.meta["state"]),
    )


def write_version(
    store: ObjectStore,
    prefix: str,
    model: nn.Module,
    architecture: ArchitectureSpec,
    saved: SavedState | None,
    metadata: dict[str, str],
) -> WrittenVersion:
    """Write the objects of a version (no updater state for version 0) but its program,
    which follows publication. Nothing is visible until the caller's DB commit."""
    with tempfile.TemporaryDirectory(prefix="relearn-") as tmp:
        folder = Path(tmp)
        weights = folder / MODEL_FILE
        save_weights(model, weights, architecture.model_dump(), metadata)
        files = [weights]
        if saved is not None:
            state_tensors, state_meta = folder / STATE_FILE, folder / STATE_META_FILE
            wrapped = UpdaterState(
                tensors=saved.state.tensors,
                meta={"updater": saved.updater, "state": saved.state.meta},
            )
            save_state(wrapped, state_tensors, state_meta)
            files = [state_tensors, state_meta, *files]
        for path in files:
            store.put_file(path, f"{prefix}/{path.name}")
        return WrittenVersion(
            artifact_sha256=sha256_file(weights),
            artifact_size=weights.stat().st_size,
            stored_bytes=sum(path.stat().st_size for path in files),
        )
