"""The worker's Celery app: ``celery -A worker.celery_app:celery worker --pool=solo``.

Why the solo pool: CUDA cannot be used in a child forked from a parent that touched it, as
the prefork pool's children are. Solo runs tasks in the worker process itself, which sets
CUDA up once and stays warm; scale out with one worker process per GPU. The app names its
modules in ``conf.include`` (imported at worker start) and never imports them itself.
"""

from __future__ import annotations

import sys
from typing import Any

from celery.signals import worker_init

from app.config import get_settings
from app.db.migrate import DatabaseNotMigrated, ensure_at_head
from app.db.session import get_engine
from app.queue import make_celery

celery = make_celery(get_settings())
celery.conf.worker_pool = "solo"
celery.conf.include = ["worker.tasks", "worker.reconcile"]


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
