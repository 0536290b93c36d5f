"""The Celery app both sides share: the API sends tasks by name, the worker runs them.

No result backend: job status lives in the database. Settings that make delivery
at-least-once: ``task_acks_late`` (ack after the task returns), ``task_reject_on_worker_lost``
(a killed worker's message goes back to the queue), prefetch 1 (a busy worker holds no
second message), and a Redis visibility timeout longer than the longest job.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from app.config import Settings, get_settings

PROCESS_MODEL_TASK = "relearn.process_model"
EXPORT_VERSION_TASK = "relearn.export_version"


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


def enqueue_model_work(
    model_id: str,
    job_id: str | None = None,
    *,
    settings: Settings | None = None,
    celery: Celery | None = None,
) -> None:
    """Ask a worker to process the model's queued jobs (in order, from the database).

    ``settings``/``celery`` let a caller with its own settings (the API app, tests) send
    through its own broker; by default both come from the environment.
    """
    settings = settings or get_settings()
    celery = celery or (get_celery() if settings is get_settings() else make_celery(settings))
    celery.send_task(PROCESS_MODEL_TASK, args=[model_id, job_id], queue=settings.queue_name)


def enqueue_export(
    model_id: str,
    number: int,
    *,
    settings: Settings | None = None,
    celery: Celery | None = None,
) -> None:
    """Ask a worker to export the ``.pt2`` program of a version that has none (version 0)."""
    settings = settings or get_settings()
    celery = celery or (get_celery() if settings is get_settings() else make_celery(settings))
    celery.send_task(EXPORT_VERSION_TASK, args=[model_id, number], queue=settings.queue_name)
