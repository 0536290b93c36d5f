"""The worker's background threads, started when it is ready: its heartbeat
(``worker/heartbeat.py``) and the reconciler, which re-sends the work the database says is
pending, at start-up and then every ``reconcile_seconds``.

Messages can be lost between the API's commit and the broker (broker down), or sit in a
dead worker's unacked set until Redis's visibility timeout. The database is the source of
truth, so the reconciler nudges a worker at every model with pending jobs (a first
initialise job included) or a version still without its ``.pt2`` program (its worker
died before exporting it), and no live lease. It also removes deleted models' objects
and rows, and applies each model's retention (``worker/retention.py``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from celery.signals import worker_ready, worker_shutting_down

from app.config import get_settings
from app.db.session import get_sessionmaker
from app.queue import enqueue_model_work
from app.services.deletion import model_prefix
from app.storage import ObjectStore, store_from_settings
from worker.heartbeat import Heartbeat
from worker.job_store import JobStore
from worker.retention import prune_all

log = logging.getLogger(__name__)

_stop = threading.Event()
_heartbeat: list[Heartbeat] = []


def reconcile_now() -> None:
    jobs, settings = JobStore(get_sessionmaker()), get_settings()
    resend_pending(jobs, enqueue_model_work)
    store = store_from_settings(settings)
    sweep_deleted(jobs, store)
    owner = f"retention-{uuid.uuid4().hex[:16]}"
    prune_all(jobs.sessions, store, owner=owner, lease_seconds=settings.lease_seconds)


def resend_pending(jobs: JobStore, send: Callable[[str], None]) -> list[str]:
    """``send`` each model with work and no live lease: pending jobs, or a version whose
    program was never exported. The models sent, in order."""
    pending = sorted({*jobs.models_with_orphaned_work(), *jobs.models_missing_programs()})
    for model_id in pending:
        log.info("re-sending work for model %s", model_id)
        send(model_id)
    return pending


def sweep_deleted(jobs: JobStore, store: ObjectStore) -> int:
    """Remove each deleted model's objects, then its rows (in that order, so a crash half
    way leaves the model marked and the next sweep finishes it). How many were removed."""
    removed = 0
    for model_id in jobs.deleted_models_to_sweep():
        store.delete_prefix(model_prefix(model_id))
        jobs.remove_model_rows(model_id=model_id)
        log.info("removed deleted model %s", model_id)
        removed += 1
    return removed


def _loop() -> None:
    while True:
        try:
            reconcile_now()
        except Exception:  # a passing DB/broker fault: try again next round
            log.exception("reconcile failed")
        if _stop.wait(get_settings().reconcile_seconds):
            return


@worker_ready.connect
def _start(**_: Any) -> None:
    heartbeat = Heartbeat(JobStore(get_sessionmaker()))
    heartbeat.start()
    _heartbeat.append(heartbeat)
    threading.Thread(target=_loop, name="relearn-reconciler", daemon=True).start()


@worker_shutting_down.connect
def _stop_loop(**_: Any) -> None:
    _stop.set()
    for heartbeat in _heartbeat:
        heartbeat.stop()
