"""The worker's Celery app: ``celery -A worker.celery_app:celery worker --pool=solo``.

Why the solo pool: the prefork pool forks children from a parent that may already have
touched CUDA, and CUDA cannot be used in a forked child. With ``solo`` the task runs in the
worker's own process, which initialises CUDA once and keeps the model code warm; scale out
by starting one worker process per GPU (``CUDA_VISIBLE_DEVICES``), on as many machines as
you like, against the same broker, database and bucket.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from celery.signals import worker_init, worker_ready, worker_shutting_down

from app.config import get_settings
from app.queue import make_celery

log = logging.getLogger(__name__)

celery = make_celery(get_settings())
celery.conf.worker_pool = "solo"
celery.conf.include = ["worker.tasks"]

_stop = threading.Event()


@worker_init.connect
def _refuse_unmigrated_database(**_: Any) -> None:
    """Refuse to start against a database that is not at the latest migration (the
    message names ``relearn db upgrade``), rather than failing on the first job."""
    from app.db.migrate import DatabaseNotMigrated, ensure_at_head
    from app.db.session import get_engine

    try:
        ensure_at_head(get_engine())
    except DatabaseNotMigrated as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit stops it.
        print(f"relearn worker: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from exc


@worker_ready.connect
def _start_reconciler(**_: Any) -> None:
    """Re-send work for models whose jobs have no live lease, now and periodically."""
    from worker.tasks import reconcile_now

    def loop() -> None:
        while True:
            try:
                reconcile_now()
            except Exception:  # a passing DB/broker fault: try again next round
                log.exception("reconcile failed")
            if _stop.wait(get_settings().reconcile_seconds):
                return

    threading.Thread(target=loop, name="relearn-reconciler", daemon=True).start()


@worker_shutting_down.connect
def _stop_reconciler(**_: Any) -> None:
    _stop.set()
