"""The worker's Celery app: ``celery -A worker.celery_app:celery worker --pool=solo``.

Why the solo pool: CUDA cannot be used in a child forked from a parent that touched it, as
the prefork pool's children are. Solo runs tasks in the worker process itself, which sets
CUDA up once and stays warm; scale out with one worker process per GPU. The app names its
modules in ``conf.include`` (imported at worker start) and never imports them itself.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery.signals import setup_logging, worker_init

from app.config import get_settings
from app.db.migrate import DatabaseNotMigrated, ensure_at_head
from app.db.session import get_engine
from app.logs import configure_logging
from app.queue import make_celery

log = logging.getLogger(__name__)

celery = make_celery(get_settings())
celery.conf.worker_pool = "solo"
celery.conf.include = ["worker.tasks", "worker.reconcile"]


@setup_logging.connect
def _structured_logs(loglevel: str | int | None = None, **_: Any) -> None:
    """Celery leaves logging to us when this signal has a receiver (``app/logs.py``)."""
    configure_logging(loglevel or "INFO", log_format=get_settings().log_format)


@worker_init.connect
def _refuse_unmigrated_database(**_: Any) -> None:
    """Refuse to start against a database that is not at the latest migration (the
    message names ``relearn db upgrade``), rather than failing on the first job."""
    try:
        ensure_at_head(get_engine())
    except DatabaseNotMigrated as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit stops it.
        print(f"relearn worker: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from exc


@worker_init.connect
def _warm_up_export(**_: Any) -> None:
    """The first ``.pt2`` export of a process costs ~1 s; pay it before taking work."""
    from worker.program_export import warm_up  # imports torch: only in the worker

    try:
        warm_up()
    except Exception:
        log.exception("torch.export warm-up failed; the first export will pay for it")
