"""Rollback jobs: publish version latest+1 holding an earlier version's weights and updater
state, byte for byte.

A rollback takes a place in the model's queue as a chunk does (``app/services/rollback.py``),
so it runs after the jobs queued before it and before those queued after. It trains and
exports nothing: it copies the source version's objects under a prefix of its own (a
version never shares objects, so retention can remove one without touching another), then
publishes in one transaction — the version (``parent``: the source), ``latest`` moved, the
job succeeded, and the promotion gate decided on the accuracy matrix as it stood at the
source (a rollback adds no row: ``app/services/lineage.py``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job, JobStatus, Model, ModelVersion, utcnow
from app.storage import ObjectStore
from worker.promotion_gate import promotion_gate
from worker.store.commit_version import Refused, commit_version

# What a rollback version's metrics repeat of its source's (the same weights, so the same
# figures); the rest of the source's metrics describe its training, not this version.
SOURCE_FIGURES = ("accuracy", "chunk_ids", "average_accuracy")


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback attempt needs, read in the transaction that claims the job."""

    job_id: str
    model_id: str
    base_number: int
    source_number: int
    source_prefix: str


def rollback_plan(session: Session, job: Job, model: Model) -> RollbackPlan | None:
    """The plan of a claimed rollback job; None (the job failed) when its source version
    is gone (pruned by retention after the job was queued)."""
    assert job.source_version is not None
    source = session.get(ModelVersion, (model.id, job.source_version))
    if source is None or source.pruned_at is not None:
        job.status = JobStatus.failed
        job.error = (
            f"version {job.source_version} was removed by the model's retention before this "
            "rollback ran; nothing was published"
        )
        job.finished_at = utcnow()
        return None
    return RollbackPlan(
        job_id=job.id,
        model_id=model.id,
        base_number=model.latest_version,
        source_number=source.number,
        source_prefix=source.prefix,
    )


StillOurs = Callable[[float], bool]
"""Called with the fraction of objects copied: renews the model's lease (and writes the
job's progress); False when the lease was lost or the job cancelled."""


class CopyStopped(Exception):
    """The lease was lost or the job cancelled while the version was being copied."""


def copy_version(
    store: ObjectStore, source_prefix: str, prefix: str, still_ours: StillOurs | None = None
) -> int:
    """Copy every object of the source version under ``prefix``; the bytes copied. After
    each object ``still_ours`` is asked, so that a copy of many large objects keeps the
    model's lease (no other worker takes the model over and redoes it); CopyStopped when
    it answers False."""
    copied = 0
    with tempfile.TemporaryDirectory(prefix="relearn-rollback-") as tmp:
        keys = store.list(source_prefix)
        for done, key in enumerate(keys, start=1):
            name = key[len(source_prefix) + 1 :]
            local = Path(tmp) / name.replace("/", "_")
            store.get_file(key, local)
            store.put_file(local, f"{prefix}/{name}")
            copied += local.stat().st_size
            local.unlink()
            if still_ours is not None and not still_ours(done / len(keys)):
                raise CopyStopped(prefix)
    return copied


def publish_rollback(
    sessions: sessionmaker[Session],
    plan: RollbackPlan,
    *,
    prefix: str,
    stored_bytes: int,
    owner: str,
    timings: dict[str, float],
) -> bool:
    """Make version base+1 (the source's objects under ``prefix``) the model's latest and
    the job succeeded, together. Only while the job is still running, from the plan's base
    and while ``owner`` holds the lease; else False and nothing changes."""
    number = plan.base_number + 1
    try:
        with sessions.begin() as session:
            source = session.get_one(ModelVersion, (plan.model_id, plan.source_number))
            metrics: dict[str, Any] = {
                "rollback": {"source_version": plan.source_number},
                **{k: source.metrics[k] for k in SOURCE_FIGURES if k in source.metrics},
                "timings": timings,
            }
            gate = promotion_gate(session, plan.model_id, None, head=plan.source_number)
            if gate is not None:
                metrics["promotion"] = gate[1].as_dict()
            version = ModelVersion(
                model_id=plan.model_id,
                number=number,
                job_id=plan.job_id,
                chunk_id=None,
                prefix=prefix,
                artifact_sha256=source.artifact_sha256,
                artifact_size=source.artifact_size,
                pt2_sha256=source.pt2_sha256,
                updater=source.updater,
                metrics=metrics,
                parent=source.number,
                storage_bytes=stored_bytes,
            )
            commit_version(session, version, base_number=plan.base_number, owner=owner, gate=gate)
    except Refused:
        return False
    return True


def run_rollback(
    store: ObjectStore,
    sessions: sessionmaker[Session],
    plan: RollbackPlan,
    *,
    prefix: str,
    owner: str,
    still_ours: StillOurs | None = None,
) -> bool:
    """Copy, then publish; False (the copy removed) when the copy was stopped or the
    publish refused."""
    started = time.perf_counter()
    try:
        stored = copy_version(store, plan.source_prefix, prefix, still_ours)
    except CopyStopped:
        store.delete_prefix(prefix)
        return False
    timings = {"copy_s": time.perf_counter() - started}
    if publish_rollback(
        sessions, plan, prefix=prefix, stored_bytes=stored, owner=owner, timings=timings
    ):
        return True
    store.delete_prefix(prefix)
    return False
