"""What ``/healthz`` reports: the database answers, whether the object store and the
broker do, who works, and how long jobs wait.

The store and the broker are each given ``PROBE_SECONDS`` (in small pools of threads of
their own, so that a hung store cannot hold the answer up); past it they count as
unavailable. Only the database decides the status code: without it the API can do
nothing (503), while without the store or the broker it still answers reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from celery import Celery
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db.models import JobStatus, utcnow
from app.schemas.health import HealthPublic, QueueHealth, WorkersHealth
from app.services import jobs, workers
from app.storage import ObjectStore

PROBE_SECONDS = 2.0
# One pool per probe, so that a hung store does not queue the broker's probe behind it.
_storage_probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="relearn-health-store")
_broker_probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="relearn-health-broker")

Answer = Literal["ok", "unavailable"]


def health_report(*, session: Session, store: ObjectStore, celery: Celery) -> HealthPublic:
    """A database failure raises (``OperationalError``: the problem handlers answer 503)."""
    storage = _storage_probes.submit(storage_answers, store)
    broker = _broker_probes.submit(broker_answers, celery)
    session.execute(text("SELECT 1"))
    seen = workers.liveness(session=session)
    oldest = jobs.oldest_queued_at(session=session)
    queued = jobs.count_by_status(session=session)[JobStatus.queued.value]
    answers = {"storage": outcome(storage.result), "broker": outcome(broker.result)}
    return HealthPublic(
        status="ok" if set(answers.values()) == {"ok"} else "degraded",
        database="ok",
        **answers,
        workers=WorkersHealth(alive=seen.alive, last_seen_seconds_ago=seen.last_seen_seconds_ago),
        queue=QueueHealth(
            queued=queued,
            oldest_wait_seconds=None
            if oldest is None
            else max(0.0, (utcnow() - oldest).total_seconds()),
        ),
    )


def storage_answers(store: ObjectStore) -> None:
    """Raises if the store does not answer a listing (``exists`` would say False)."""
    with contextlib.suppress(FileNotFoundError):  # nothing written under the prefix yet
        store.fs.ls(store.root, detail=False)


def broker_answers(celery: Celery) -> None:
    with celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=PROBE_SECONDS)


def outcome(result: Callable[..., object]) -> Answer:
    """``ok`` if the probe returned within its time, whatever it returned."""
    try:
        result(timeout=PROBE_SECONDS)
    except Exception:
        return "unavailable"
    return "ok"
