"""The reconciler's queries: models whose pending work no live lease covers, and deleted
models, whose objects the sweeper removes before their rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Alias, Chunk, Job, Model, ModelVersion, utcnow
from worker.store.attempts import PENDING


@dataclass(frozen=True)
class ReconcileQueries:
    """What the reconciler re-sends and sweeps."""

    sessions: sessionmaker[Session]

    def models_with_orphaned_work(self) -> list[str]:
        """Models with a queued or running job and no live lease."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Model.id)
                    .where(
                        Model.id.in_(select(Job.model_id).where(Job.status.in_(PENDING))),
                        or_(Model.lease_owner.is_(None), Model.lease_expires_at < utcnow()),
                    )
                    .order_by(Model.id)
                )
            )

    def deleted_models_to_sweep(self) -> list[str]:
        """Deleted models no worker holds a live lease on (a worker still stopping its
        cancelled job might write objects yet)."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Model.id)
                    .where(
                        Model.deleted_at.is_not(None),
                        or_(Model.lease_owner.is_(None), Model.lease_expires_at < utcnow()),
                    )
                    .order_by(Model.id)
                )
            )

    def remove_model_rows(self, *, model_id: str) -> None:
        """The deleted model's rows, children first (its objects are gone already)."""
        with self.sessions.begin() as session:
            for table in (Alias, ModelVersion, Job, Chunk):
                session.execute(delete(table).where(table.model_id == model_id))
            session.execute(
                delete(Model).where(Model.id == model_id, Model.deleted_at.is_not(None))
            )
