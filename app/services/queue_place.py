"""A job's place in its model's queue.

Jobs of a model run in ``seq`` order: 0 for the initialise job, then one place per job in
the order they were queued (chunks, retries, rollbacks), counted by ``Model.job_count``.
Chunks are numbered apart (``chunk_count``), so a retry or a rollback leaves no gap in
them. Taking a place is an ``UPDATE ... RETURNING`` on the model row: it locks the row
until the caller commits, so two requests never take the same place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db.models import Job, JobKind, JobStatus, Model, new_id


def next_queue_place(session: Session, model_id: str) -> int:
    """The model's next job ``seq`` (the model row stays locked until the caller commits)."""
    return session.execute(
        update(Model)
        .where(Model.id == model_id)
        .values(job_count=Model.job_count + 1)
        .returning(Model.job_count)
        .execution_options(synchronize_session=False)
    ).scalar_one()


def queued_job(
    *,
    model_id: str,
    seq: int,
    updater: dict[str, Any],
    kind: JobKind = JobKind.update,
    chunk_id: str | None = None,
    source_version: int | None = None,
) -> Job:
    """A new job row, queued at place ``seq``, not yet attempted."""
    return Job(
        id=new_id(),
        model_id=model_id,
        kind=kind,
        chunk_id=chunk_id,
        seq=seq,
        source_version=source_version,
        status=JobStatus.queued,
        progress=0.0,
        attempts=0,
        updater=updater,
    )
