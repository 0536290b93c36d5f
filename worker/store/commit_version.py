"""The heart of every publish after version 0 (an update's, a rollback's): the job
succeeded, ``latest`` moved from the job's base while its worker holds the lease, the
version row added and the gate's alias moved, all in the caller's transaction."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from app.db.models import Job, JobStatus, Model, ModelVersion, utcnow
from app.promotion import Decision
from app.services.aliases import point_alias


class Refused(Exception):
    """Rolls a publish transaction back: one of its conditions did not hold."""


def commit_version(
    session: Session,
    version: ModelVersion,
    *,
    base_number: int,
    owner: str,
    gate: tuple[str, Decision] | None,
) -> None:
    """Raise ``Refused`` unless the job is still running (a cancel committed first wins)
    and the model's latest is still ``base_number`` under ``owner``'s lease."""
    # The job row first: a cancel committed before this wins, and one arriving after
    # waits on this row and then finds the job succeeded.
    finished = cast(
        CursorResult[Any],
        session.execute(
            update(Job)
            .where(Job.id == version.job_id, Job.status == JobStatus.running)
            .values(
                status=JobStatus.succeeded,
                progress=1.0,
                metrics=version.metrics,
                result_version=version.number,
                finished_at=utcnow(),
                error=None,
            )
        ),
    )
    if finished.rowcount != 1:
        raise Refused
    moved = cast(
        CursorResult[Any],
        session.execute(
            update(Model)
            .where(
                Model.id == version.model_id,
                Model.latest_version == base_number,
                Model.lease_owner == owner,
            )
            .values(
                latest_version=version.number,
                storage_bytes=Model.storage_bytes + version.storage_bytes,
            )
        ),
    )
    if moved.rowcount != 1:
        raise Refused
    session.add(version)
    if gate is not None and gate[1].promoted:
        session.flush()
        point_alias(session, model_id=version.model_id, name=gate[0], version=version.number)
