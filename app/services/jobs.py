"""Reading and cancelling jobs. Job status lives in the database (no result backend).

The figures ``/metrics`` reports about jobs (counts by status, durations) are aggregates
computed here in SQL at scrape time, so every API process reports the same numbers
whichever workers ran the jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, case, func, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.db.models import Job, JobKind, JobStatus, Model, utcnow
from app.errors import Conflict, NotFound
from app.queue import TaskQueue
from app.services.models import get_model, is_valid_id
from app.services.pages import Page, PageRequest
from app.services.queue_place import next_queue_place, queued_job
from app.services.tenants import may_see


def get_job(*, session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id) if is_valid_id(job_id) else None
    model = session.get(Model, job.model_id) if job is not None else None
    if job is None or model is None or model.deleted_at is not None:
        raise NotFound(f"no job {job_id!r}", field="job_id")
    if not may_see(session, model.tenant):
        raise NotFound(f"no job {job_id!r}", field="job_id")
    return job


def list_jobs(
    *,
    session: Session,
    model_id: str,
    page: PageRequest | None = None,
    status: str | None = None,
    updater: str | None = None,
    newest_first: bool = False,
) -> Page[Job]:
    """The model's jobs in queue order (or newest first), optionally of one status or
    updater; the cursor is the last ``seq`` shown."""
    get_model(session=session, model_id=model_id)
    page = page or PageRequest()
    # The initialise job (version 0) is the model's, not a chunk's: lists show chunk jobs.
    query = select(Job).where(Job.model_id == model_id, Job.kind != JobKind.initialise)
    if status is not None:
        query = query.where(Job.status == status)
    if updater is not None:
        query = query.where(Job.updater["name"].as_string() == updater)
    if page.cursor is not None:
        seq = page.seq_cursor()
        query = query.where(Job.seq < seq if newest_first else Job.seq > seq)
    ordered = query.order_by(Job.seq.desc() if newest_first else Job.seq)
    rows = list(session.scalars(ordered.limit(page.limit + 1)))
    return Page.of(rows, page.limit, lambda j: str(j.seq))


def cancel_job(*, session: Session, job_id: str) -> Job:
    """queued or running → cancelled; a finished job cannot be cancelled (409).

    A conditional UPDATE, so that a worker publishing the job at the same moment and this
    cancel cannot both win. A running job stops cooperatively: the worker's next progress
    report (between training steps, every fraction of a second) or its publish finds the
    job cancelled, abandons the attempt and goes on with the model's next job.
    """
    job = get_job(session=session, job_id=job_id)
    if job.kind == JobKind.initialise:
        raise Conflict(
            f"job {job.id} makes the model's version 0 and cannot be cancelled; "
            "delete the model instead",
            field="job_id",
        )
    cancelled = session.scalar(
        update(Job)
        .where(Job.id == job.id, Job.status.in_((JobStatus.queued, JobStatus.running)))
        .values(status=JobStatus.cancelled, finished_at=utcnow())
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(job)
    if cancelled is None:
        raise Conflict(
            f"job {job.id} is {job.status}; only a queued or running job can be cancelled",
            field="job_id",
        )
    return job


def retry_job(*, session: Session, tasks: TaskQueue, job_id: str) -> Job:
    """A failed chunk job's chunk, queued again as a new job at the end of the model's
    queue (the failed job stays as it was, for the record). 409 unless it failed and has a
    chunk. The new job takes the model's next queue place (``job_count``; an
    ``UPDATE ... RETURNING`` locks the model row); the chunk keeps its number."""
    failed = get_job(session=session, job_id=job_id)
    if failed.status != JobStatus.failed or failed.chunk_id is None:
        raise Conflict(
            f"job {failed.id} is {failed.status}; only a failed chunk job can be retried",
            field="job_id",
        )
    seq = next_queue_place(session, failed.model_id)
    applied = session.scalar(
        select(Job.id).where(Job.chunk_id == failed.chunk_id, Job.status == JobStatus.succeeded)
    )
    if applied is not None:
        session.rollback()
        raise Conflict(
            f"job {failed.id}'s chunk was applied since, by job {applied}; retrying it would "
            "apply it twice",
            field="job_id",
        )
    job = queued_job(
        model_id=failed.model_id,
        seq=seq,
        updater=failed.updater,
        kind=JobKind(failed.kind),
        chunk_id=failed.chunk_id,
    )
    session.add(job)
    session.commit()
    tasks.model_has_work(job.model_id, job.id)
    return job


# --- figures for /metrics ------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """How many values fell at or below each bound (cumulative, as Prometheus buckets
    count), how many there were and their sum."""

    bounds: tuple[float, ...]
    at_or_below: tuple[int, ...]
    count: int
    total: float


def count_by_status(*, session: Session) -> dict[str, int]:
    """Jobs per status, every status present (0 where none)."""
    counts = dict.fromkeys((s.value for s in JobStatus), 0)
    for status, n in session.execute(select(Job.status, func.count()).group_by(Job.status)):
        counts[str(status)] = int(n)
    return counts


def oldest_queued_at(*, session: Session) -> datetime | None:
    """When the longest-waiting queued job was created; None with no job queued."""
    return session.scalar(select(func.min(Job.created_at)).where(Job.status == JobStatus.queued))


def run_seconds_by_status(*, session: Session, bounds: Sequence[float]) -> dict[str, Distribution]:
    """started → finished of the jobs that ran to an end, per final status."""
    seconds = _SecondsBetween(Job.started_at, Job.finished_at)
    query = _distribution(seconds, bounds).add_columns(Job.status).group_by(Job.status)
    rows = session.execute(query.where(Job.finished_at.is_not(None))).all()
    return {str(row[-1]): _as_distribution(row[:-1], bounds) for row in rows}


def queue_wait_seconds(*, session: Session, bounds: Sequence[float]) -> Distribution:
    """created → started of every job a worker has taken (a retried job counts its last
    start)."""
    seconds = _SecondsBetween(Job.created_at, Job.started_at)
    return _as_distribution(session.execute(_distribution(seconds, bounds)).one(), bounds)


def fit_seconds(*, session: Session, bounds: Sequence[float]) -> Distribution:
    """The updater's ``fit`` of each succeeded job (``metrics.timings.fit_s``, written by
    the worker)."""
    seconds = Job.metrics[("timings", "fit_s")].as_float()
    query = _distribution(seconds, bounds).where(Job.status == JobStatus.succeeded)
    return _as_distribution(session.execute(query).one(), bounds)


def _distribution(value: ColumnElement[Any], bounds: Sequence[float]) -> Any:
    """SELECT count, sum and one "≤ bound" count per bound of the non-null ``value``."""
    return select(
        func.count(value),
        func.coalesce(func.sum(value), 0.0),
        *(func.coalesce(func.sum(case((value <= bound, 1), else_=0)), 0) for bound in bounds),
    ).where(value.is_not(None))


def _as_distribution(row: Sequence[Any], bounds: Sequence[float]) -> Distribution:
    count, total, *at_or_below = row
    return Distribution(
        bounds=tuple(bounds),
        at_or_below=tuple(int(n) for n in at_or_below),
        count=int(count),
        total=float(total),
    )


class _SecondsBetween(FunctionElement[float]):
    """``end - start`` in seconds: SQL has no portable spelling, so one per dialect."""

    type = Float()
    inherit_cache = True


@compiles(_SecondsBetween, "sqlite")
def _seconds_sqlite(element: _SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(_SecondsBetween, "postgresql")
def _seconds_postgresql(element: _SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)"
