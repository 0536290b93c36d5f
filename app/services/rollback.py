"""Asking for a rollback: a job in the model's queue that publishes version latest+1 with an
earlier version's weights and updater state (the worker's side: ``worker/rollback.py``).

The job takes the model's next queue place (``app/services/queue_place.py``), so it runs
after every job queued before it and before every job queued after, chunks included. The
version must exist and not be pruned by retention when it is asked for; the lock on the
model row orders this check against the retention sweep, which takes the same lock.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db.models import Job, JobKind, ModelStatus, ModelVersion
from app.errors import Conflict, Gone, NotFound
from app.queue import TaskQueue
from app.services.models import get_model
from app.services.queue_place import next_queue_place, queued_job


def request_rollback(*, session: Session, tasks: TaskQueue, model_id: str, version: int) -> Job:
    """Queue the rollback to ``version``; 404 if the model has no such version, 409 if it is
    not ready (no version 0 yet, or failed), 410 if retention removed that version."""
    model = get_model(session=session, model_id=model_id)
    if model.status != ModelStatus.ready:
        raise Conflict(
            f"model {model.id} is {model.status}; a rollback needs its version 0",
            field="model_id",
        )
    seq = next_queue_place(session, model.id)
    source = session.get(ModelVersion, (model.id, version))
    if source is None:
        session.rollback()
        raise NotFound(f"version: model {model.id} has no version {version}", field="version")
    if source.pruned_at is not None:
        session.rollback()
        raise Gone(
            f"version: version {version} was removed by the model's retention "
            "(retention.keep_versions); roll back to a version it kept",
            field="version",
        )
    job = queued_job(
        model_id=model.id,
        seq=seq,
        updater=model.updater,
        kind=JobKind.rollback,
        source_version=version,
    )
    session.add(job)
    session.commit()
    tasks.model_has_work(model.id, job.id)
    return job
