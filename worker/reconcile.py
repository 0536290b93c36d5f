"""Find models with pending work and nudge a worker at them.

Messages can be lost between the API's commit and the broker (broker down), or stuck in
a dead worker's unacked set until Redis's visibility timeout. The database is the source
of truth, so the worker re-sends a ``process_model`` message for every model that has a
queued or running job and no live lease: at start-up and then periodically.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.db.models import Job, JobStatus, Model, ModelVersion, utcnow


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


def versions_missing_program(
    *, session: Session, older_than_s: float = 60.0
) -> list[tuple[str, int]]:
    """Versions whose ``.pt2`` export has not happened a while after they were created
    (the export message of version 0 was lost)."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    rows = session.execute(
        select(ModelVersion.model_id, ModelVersion.number)
        .where(ModelVersion.pt2_sha256.is_(None), ModelVersion.created_at < cutoff)
        .order_by(ModelVersion.model_id, ModelVersion.number)
    ).all()
    return [(model_id, number) for model_id, number in rows]
