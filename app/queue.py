"""The one way to reach the broker: the Celery app both sides share, and the API's queue.

No result backend: job status lives in the database. Delivery is at-least-once: ack after
the task returns (``task_acks_late``), a killed worker's message goes back to the queue
(``task_reject_on_worker_lost``), a busy worker holds no second message (prefetch 1), and
the Redis visibility timeout is longer than the longest job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from celery import Celery

from app.config import Settings, get_settings

log = logging.getLogger(__name__)

PROCESS_MODEL_TASK = "relearn.process_model"


def make_celery(settings: Settings) -> Celery:
    celery = Celery("relearn", broker=settings.broker_url)
    transport_options: dict[str, object] = {
        "visibility_timeout": settings.visibility_timeout_seconds
    }
    if settings.is_embedded_broker:
        folder = settings.broker_folder
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options.update(
            data_folder_in=str(folder / "queue"),
            data_folder_out=str(folder / "queue"),
            processed_folder=str(folder / "processed"),
            control_folder=str(folder / "control"),
            store_processed=False,
            polling_interval=settings.broker_polling_seconds,
        )
    celery.conf.update(
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.queue_name,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
    )
    return celery


@lru_cache
def get_celery() -> Celery:
    return make_celery(get_settings())


def _sender(settings: Settings | None, celery: Celery | None) -> tuple[Settings, Celery]:
    """The caller's settings and Celery app, or the environment's (built once)."""
    settings = settings or get_settings()
    if celery is None:
        celery = get_celery() if settings is get_settings() else make_celery(settings)
    return settings, celery


def enqueue_model_work(
    model_id: str,
    job_id: str | None = None,
    *,
    settings: Settings | None = None,
    celery: Celery | None = None,
) -> None:
    """Ask a worker to process the model's queued jobs (in order, from the database)."""
    settings, celery = _sender(settings, celery)
    celery.send_task(PROCESS_MODEL_TASK, args=[model_id, job_id], queue=settings.queue_name)


@dataclass(frozen=True)
class TaskQueue:
    """The API's sender, used after a commit: it logs a broker failure instead of raising.

    A committed job row is durable and the workers' reconciler re-sends its work, so a
    broker that is down costs latency, not data, and must not turn a done request into 5xx.
    """

    settings: Settings
    celery: Celery

    def model_has_work(self, model_id: str, job_id: str | None) -> bool:
        """Nudge a worker at the model's queued jobs. False (logged) if the broker failed."""
        try:
            enqueue_model_work(model_id, job_id, settings=self.settings, celery=self.celery)
        except Exception:
            log.exception(
                "could not enqueue work for model %s (job %s); the workers' "
                "reconciler will pick it up",
                model_id,
                job_id,
            )
            return False
        return True
