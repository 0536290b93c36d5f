"""Reading and cancelling jobs. Job status lives in the database (no result backend)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import Job, JobStatus, utcnow
from app.errors import Conflict, NotFound
from app.services.models import get_model, is_valid_id


def get_job(*, session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id) if is_valid_id(job_id) else None
    if job is None:
        raise NotFound(f"no job {job_id!r}", field="job_id")
    return job


def list_jobs(*, session: Session, model_id: str) -> list[Job]:
    get_model(session=session, model_id=model_id)
    return list(session.scalars(select(Job).where(Job.model_id == model_id).order_by(Job.seq)))


def cancel_job(*, session: Session, job_id: str) -> Job:
    """queued → cancelled. A running or finished job cannot be cancelled (409).

    A conditional UPDATE, so that a worker taking the job at the same moment and this
    cancel cannot both win: exactly one of them changes the queued row.
    """
    job = get_job(session=session, job_id=job_id)
    cancelled = session.scalar(
        update(Job)
        .where(Job.id == job.id, Job.status == JobStatus.queued)
        .values(status=JobStatus.cancelled, finished_at=utcnow())
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(job)
    if cancelled is None:
        raise Conflict(
            f"job {job.id} is {job.status}; only a queued job can be cancelled", field="job_id"
        )
    return job
