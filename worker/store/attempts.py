"""A running attempt's progress, and how it ends when it does not publish: failed for good,
or back to the queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job, JobKind, JobStatus, Model, ModelStatus, utcnow
from worker import lease

PENDING = (JobStatus.queued, JobStatus.running)


@dataclass(frozen=True)
class AttemptQueries:
    """A claimed job's progress and its ends short of publishing."""

    sessions: sessionmaker[Session]

    def report_progress(
        self,
        *,
        job_id: str,
        model_id: str,
        fraction: float,
        owner: str,
        seconds: float,
        loss_curve: list[dict[str, float]] | None = None,
    ) -> bool:
        """Renew the lease and write the job's progress (and its loss so far, when given);
        False (nothing written) if the lease was lost or the job is no longer running
        (cancelled: the runner's cooperative check between training steps)."""
        with self.sessions.begin() as session:
            if not lease.renew(session=session, model_id=model_id, owner=owner, seconds=seconds):
                return False
            written = cast(
                CursorResult[Any],
                session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == JobStatus.running)
                    .values(
                        progress=fraction,
                        **({} if loss_curve is None else {"loss_curve": loss_curve}),
                    )
                ),
            )
            return written.rowcount == 1

    def outcome(self, *, job_id: str) -> dict[str, Any]:
        """The job's status, version made and error, as the worker logs them."""
        with self.sessions() as session:
            job = session.get(Job, job_id)
            if job is None:
                return {"status": None}
            return {"status": job.status, "version": job.result_version, "error": job.error}

    def is_cancelled(self, *, job_id: str) -> bool:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            return job is None or job.status == JobStatus.cancelled

    def is_pending(self, *, job_id: str) -> bool:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            return job is not None and job.status in PENDING

    def fail(self, *, job_id: str, error: str) -> None:
        """Fail the job for good (a fault no retry can fix); an initialise job fails its
        model with it."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status != JobStatus.cancelled:
                fail_job(session, job, error)

    def requeue_or_fail(
        self, *, job_id: str, error: str, max_attempts: int, counts: bool = True
    ) -> None:
        """After a passing fault: back to the queue, or failed once out of attempts. An
        attempt that does not count (an infrastructure fault) is given back."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status == JobStatus.cancelled:  # cancelled while it ran: stays so
                return
            if not counts:
                job.attempts = max(0, job.attempts - 1)
                job.status = JobStatus.queued
            elif job.attempts >= max_attempts:
                fail_job(session, job, error)
            else:
                job.status = JobStatus.queued


def fail_job(session: Session, job: Job, error: str) -> None:
    job.status = JobStatus.failed
    job.error = error
    job.finished_at = utcnow()
    if job.kind == JobKind.initialise:
        model = session.get(Model, job.model_id)
        assert model is not None
        model.status = ModelStatus.failed
        model.error = error
