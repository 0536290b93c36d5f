"""Sending work to the workers after a commit, without ever failing the request.

The database is the source of truth: a job row that is committed is durable, and every
worker re-sends work for pending jobs at start-up and periodically (``worker/reconcile.py``).
So a broker that is down costs latency, not data, and the API logs it instead of
answering 5xx for a request whose effect is already committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import Celery

from app.config import Settings
from app.queue import enqueue_export, enqueue_model_work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskQueue:
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

    def export_version(self, model_id: str, number: int) -> bool:
        """Ask a worker to export a version's pt2 program. False (logged) on broker failure."""
        try:
            enqueue_export(model_id, number, settings=self.settings, celery=self.celery)
        except Exception:
            log.exception("could not enqueue the export of model %s version %s", model_id, number)
            return False
        return True
