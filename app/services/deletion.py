"""Deleting a model: gone from the API at once, its objects removed in the background.

``DELETE`` marks the model (``deleted_at``) and cancels its queued and running jobs in one
transaction; from that commit every endpoint answers 404 (lookups skip marked models) and
its name is free again. A running job's worker stops at its next progress report and
publishes nothing. The reconciler's sweeper (``worker/reconcile.py``) then removes the
model's objects and, last, its rows: a crash half way leaves the mark, and the next sweep
finishes the work.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db.models import Job, JobStatus, Model, utcnow
from app.services.models import get_model


def model_prefix(model_id: str) -> str:
    """Every object of a model lives under this prefix (chunks, eval splits, versions,
    uploaded initial weights)."""
    return f"models/{model_id}"


def delete_model(*, session: Session, model_id: str) -> Model:
    model = get_model(session=session, model_id=model_id)
    now = utcnow()
    model.deleted_at = now
    session.execute(
        update(Job)
        .where(Job.model_id == model.id, Job.status.in_((JobStatus.queued, JobStatus.running)))
        .values(status=JobStatus.cancelled, finished_at=now, error="the model was deleted")
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return model
