"""Celery tasks: thin — take ids, call the job runner or the store, let Celery retry.

Job status lives in the database (no result backend). Messages are hints: a duplicate or
late one finds nothing to do. Faults of the database, store or broker are retried with
backoff for as long as they last (``max_retries=None``).
"""

from __future__ import annotations

import random
from functools import lru_cache

from celery import Task

from app.config import get_settings
from app.db.migrate import ensure_at_head
from app.db.session import get_engine, get_sessionmaker
from app.queue import PROCESS_MODEL_TASK
from app.storage import get_store
from worker.celery_app import celery
from worker.devices import resolve_device
from worker.eval_cache import EvalCache
from worker.faults import is_infrastructure_fault
from worker.heartbeat import worker_id
from worker.job_runner import JobRunner

LEASE_BUSY_RETRY_S = 2.0
FAILURE_RETRY_S = 10.0
# An infrastructure fault is retried for as long as it lasts: 1, 2, 4, ... seconds, capped.
INFRASTRUCTURE_RETRY_FIRST_S = 1.0
INFRASTRUCTURE_RETRY_MAX_S = 30.0


def retry_delay(exc: BaseException, retries: int) -> float:
    """Seconds before Celery runs the task again after ``exc``: exponential backoff with
    jitter for a database, store or broker fault (so that workers do not stampede a store
    coming back), a fixed pause after a failure of the job itself."""
    if not is_infrastructure_fault(exc):
        return FAILURE_RETRY_S
    ceiling = min(INFRASTRUCTURE_RETRY_MAX_S, INFRASTRUCTURE_RETRY_FIRST_S * 2 ** min(retries, 10))
    return ceiling * random.uniform(0.5, 1.0)


@lru_cache
def runner() -> JobRunner:
    settings = get_settings()
    ensure_at_head(get_engine())
    return JobRunner(
        sessions=get_sessionmaker(),
        store=get_store(),
        device=resolve_device(settings.device),
        owner=worker_id(),
        lease_seconds=settings.lease_seconds,
        eval_cache=EvalCache(settings.eval_cache_bytes),
    )


@celery.task(name=PROCESS_MODEL_TASK, bind=True, max_retries=None)
def process_model(self: Task, model_id: str, job_id: str | None = None) -> None:
    try:
        took_lease = runner().process_model(model_id)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=retry_delay(exc, self.request.retries)) from exc
    if not took_lease and job_id is not None and runner().jobs.is_pending(job_id=job_id):
        # Another worker is updating this model; come back while our job is pending.
        raise self.retry(countdown=LEASE_BUSY_RETRY_S)
