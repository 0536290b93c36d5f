"""The ``.pt2`` program of a published version, exported after its publication.

A version is published with its safetensors; its ``torch.export`` program (~50 ms, ~1 s
the first time in a process) follows, written by the worker holding the model's lease
once the model's queue is drained, so that it never delays the next job. Until then the
API answers 409 + Retry-After. A worker that dies first leaves the version without a
program; the reconciler sends the model to a worker, which exports it then.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch

from app.architectures import input_shape
from app.storage import PT2_FILE, ObjectStore, sha256_file
from worker.export import export_program
from worker.job_store import JobStore
from worker.version_files import load_model

log = logging.getLogger(__name__)


def warm_up() -> None:
    """Pay ``torch.export``'s first-call cost (~1 s) at worker start, not after the first
    job: export a tiny module once."""
    with tempfile.TemporaryDirectory(prefix="relearn-") as tmp:
        export_program(torch.nn.Linear(2, 2), (2,), Path(tmp) / PT2_FILE)


def export_next_program(
    jobs: JobStore, store: ObjectStore, *, model_id: str, owner: str, lease_seconds: float
) -> bool:
    """Export and record the model's oldest version without a program. False when there
    is none left, or the lease is no longer ``owner``'s."""
    pending = jobs.next_version_without_program(model_id=model_id)
    if pending is None or not jobs.renew_lease(
        model_id=model_id, owner=owner, seconds=lease_seconds
    ):
        return False
    model = load_model(store, pending.prefix, pending.architecture, torch.device("cpu"))
    with tempfile.TemporaryDirectory(prefix="relearn-") as tmp:
        path = Path(tmp) / PT2_FILE
        export_program(model, input_shape(pending.architecture), path)
        store.put_file(path, f"{pending.prefix}/{PT2_FILE}")
        digest, size = sha256_file(path), path.stat().st_size
    recorded = jobs.record_program(
        model_id=model_id, number=pending.number, sha256=digest, owner=owner, size=size
    )
    log.info("model %s version %d: .pt2 exported", model_id, pending.number)
    return recorded
