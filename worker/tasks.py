"""Celery tasks: thin — take ids, call the job runner or the store, let Celery retry.

Job status lives in the database (no result backend). Messages are hints: a duplicate or
late one finds nothing to do.
"""

from __future__ import annotations

import os
import socket
import uuid
from functools import lru_cache

from celery import Task

from app.config import get_settings
from app.db.migrate import ensure_at_head
from app.db.session import get_engine, get_sessionmaker
from app.queue import EXPORT_VERSION_TASK, PROCESS_MODEL_TASK
from app.storage import get_store
from worker.celery_app import celery
from worker.devices import resolve_device
from worker.job_runner import JobRunner
from worker.job_store import JobStore
from worker.version_files import export_existing

LEASE_BUSY_RETRY_S = 2.0
FAILURE_RETRY_S = 10.0


@lru_cache
def runner() -> JobRunner:
    settings = get_settings()
    ensure_at_head(get_engine())
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return JobRunner(
        sessions=get_sessionmaker(),
        store=get_store(),
        device=resolve_device(settings.device),
        owner=owner,
        lease_seconds=settings.lease_seconds,
    )


@celery.task(name=PROCESS_MODEL_TASK, bind=True, max_retries=None)
def process_model(self: Task, model_id: str, job_id: str | None = None) -> None:
    try:
        took_lease = runner().process_model(model_id)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=FAILURE_RETRY_S) from exc
    if not took_lease and job_id is not None and runner().jobs.is_pending(job_id=job_id):
        # Another worker is updating this model; come back while our job is pending.
        raise self.retry(countdown=LEASE_BUSY_RETRY_S)


@celery.task(name=EXPORT_VERSION_TASK, bind=True, max_retries=5)
def export_version(self: Task, model_id: str, number: int) -> None:
    """Export the pt2 program of a version that has none (version 0)."""
    jobs = JobStore(get_sessionmaker())
    found = jobs.version_to_export(model_id=model_id, number=number)
    if found is None:
        return
    prefix, architecture = found
    try:
        sha256 = export_existing(get_store(), prefix, architecture)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=FAILURE_RETRY_S) from exc
    jobs.record_program(model_id=model_id, number=number, sha256=sha256)
