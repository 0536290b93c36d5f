"""Celery tasks: thin — take ids, call the job runner, let Celery retry.

Job status lives in the database (no result backend). Messages are hints: a duplicate or
late one finds nothing to do.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from functools import lru_cache

from celery import Task

from app.architectures import ArchitectureSpec
from app.config import get_settings
from app.db.migrate import ensure_at_head
from app.db.models import Job, JobStatus, Model, ModelVersion
from app.db.session import get_engine, get_sessionmaker
from app.queue import (
    EXPORT_VERSION_TASK,
    PROCESS_MODEL_TASK,
    enqueue_export,
    enqueue_model_work,
)
from app.storage import get_store
from worker.celery_app import celery
from worker.devices import resolve_device
from worker.job_runner import JobRunner
from worker.reconcile import models_with_orphaned_work, versions_missing_program
from worker.version_files import export_existing

log = logging.getLogger(__name__)

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
    if not took_lease and _still_pending(job_id):
        # Another worker is updating this model; come back while our job is pending.
        raise self.retry(countdown=LEASE_BUSY_RETRY_S)


@celery.task(name=EXPORT_VERSION_TASK, bind=True, max_retries=5)
def export_version(self: Task, model_id: str, number: int) -> None:
    """Export the pt2 program of a version that has none (version 0)."""
    sessions = get_sessionmaker()
    with sessions() as session:
        version = session.get(ModelVersion, (model_id, number))
        model = session.get(Model, model_id)
        if version is None or model is None or version.pt2_sha256 is not None:
            return
        prefix, architecture = version.prefix, ArchitectureSpec.model_validate(model.architecture)
    try:
        sha = export_existing(get_store(), prefix, architecture)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=FAILURE_RETRY_S) from exc
    with sessions.begin() as session:
        version = session.get(ModelVersion, (model_id, number))
        if version is not None and version.pt2_sha256 is None:
            version.pt2_sha256 = sha


def _still_pending(job_id: str | None) -> bool:
    if job_id is None:
        return False
    with get_sessionmaker()() as session:
        job = session.get(Job, job_id)
        return job is not None and job.status in (JobStatus.queued, JobStatus.running)


def reconcile_now() -> None:
    with get_sessionmaker()() as session:
        model_ids = models_with_orphaned_work(session=session)
        exports = versions_missing_program(session=session)
    for model_id in model_ids:
        log.info("re-sending work for model %s", model_id)
        enqueue_model_work(model_id)
    for model_id, number in exports:
        log.info("re-sending the export of model %s version %s", model_id, number)
        enqueue_export(model_id, number)
