"""The reconciler: re-send the work the database says is pending, at start-up and then
every ``reconcile_seconds``.

Messages can be lost between the API's commit and the broker (broker down), or sit in a
dead worker's unacked set until Redis's visibility timeout. The database is the source of
truth, so a thread started when the worker is ready nudges a worker at every model with
pending jobs and no live lease, and at every version whose export never happened.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutting_down

from app.config import get_settings
from app.db.session import get_sessionmaker
from app.queue import enqueue_export, enqueue_model_work
from worker.job_store import JobStore

log = logging.getLogger(__name__)

_stop = threading.Event()


def reconcile_now() -> None:
    jobs = JobStore(get_sessionmaker())
    model_ids, exports = jobs.models_with_orphaned_work(), jobs.versions_missing_program()
    for model_id in model_ids:
        log.info("re-sending work for model %s", model_id)
        enqueue_model_work(model_id)
    for model_id, number in exports:
        log.info("re-sending the export of model %s version %s", model_id, number)
        enqueue_export(model_id, number)


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
    threading.Thread(target=_loop, name="relearn-reconciler", daemon=True).start()


@worker_shutting_down.connect
def _stop_loop(**_: Any) -> None:
    _stop.set()
