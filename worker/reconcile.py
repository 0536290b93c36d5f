"""Find models with pending work and nudge a worker at them.

Messages can be lost between the API's commit and the broker (broker down), or stuck in
a dead worker's unacked set until Redis's visibility timeout. The database is the source
of truth, so the worker re-sends a ``process_model`` message for every model that has a
queued or running job and no live lease: at start-up and then periodically.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.db.models import Job, JobStatus, Model, utcnow


def models_with_orphaned_work(*, session: Session) -> list[str]:
    now = utcnow()
    return list(
        session.scalars(
            select(Model.id)
            .where(
                Model.id.in_(
                    select(Job.model_id).where(
                        Job.status.in_([JobStatus.queued, JobStatus.running])
                    )
                ),
                or_(Model.lease_owner.is_(None), Model.lease_expires_at < now),
            )
            .order_by(Model.id)
        )
    )
