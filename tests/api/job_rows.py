"""What a worker writes to a job's row, written directly: the API tests run no worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job


def set_job(sessions: sessionmaker[Session], job_id: str, **values: Any) -> None:
    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def ran(
    sessions: sessionmaker[Session],
    job_id: str,
    *,
    created: datetime,
    started: datetime,
    finished: datetime,
    fit_s: float,
    status: str = "succeeded",
) -> None:
    """The job, submitted at ``created``, ran from ``started`` to ``finished``, its updater
    training ``fit_s``."""
    set_job(
        sessions,
        job_id,
        status=status,
        progress=1.0 if status == "succeeded" else 0.5,
        created_at=created,
        started_at=started,
        finished_at=finished,
        metrics={"timings": {"fit_s": fit_s}} if status == "succeeded" else None,
    )
