"""Programs (``.pt2``) that follow their version's publication (``worker/program_export.py``):
which version still lacks one, recording it, and the models a dead worker left without."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import ArchitectureSpec
from app.db.models import Model, ModelVersion, utcnow


@dataclass(frozen=True)
class PendingProgram:
    """A published version whose ``.pt2`` program is still to be exported."""

    number: int
    prefix: str
    architecture: ArchitectureSpec


@dataclass(frozen=True)
class ProgramQueries:
    """The ``.pt2`` bookkeeping."""

    sessions: sessionmaker[Session]

    def next_version_without_program(self, *, model_id: str) -> PendingProgram | None:
        """The model's oldest version whose ``.pt2`` is not recorded yet (None: none)."""
        with self.sessions() as session:
            row = session.execute(
                select(ModelVersion.number, ModelVersion.prefix, Model.architecture)
                .join(Model, Model.id == ModelVersion.model_id)
                .where(
                    ModelVersion.model_id == model_id,
                    ModelVersion.pt2_sha256.is_(None),
                    ModelVersion.pruned_at.is_(None),
                )
                .order_by(ModelVersion.number)
                .limit(1)
            ).first()
            if row is None:
                return None
            return PendingProgram(
                number=row.number,
                prefix=row.prefix,
                architecture=ArchitectureSpec.model_validate(row.architecture),
            )

    def record_program(
        self, *, model_id: str, number: int, sha256: str, owner: str, size: int = 0
    ) -> bool:
        """Record a version's exported program (``size`` bytes, counted in the model's
        storage), while ``owner`` holds the model's lease and none is recorded; else False
        and nothing changes."""
        with self.sessions.begin() as session:
            holder = select(Model.id).where(Model.id == model_id, Model.lease_owner == owner)
            result = cast(
                CursorResult[Any],
                session.execute(
                    update(ModelVersion)
                    .where(
                        ModelVersion.model_id == model_id,
                        ModelVersion.number == number,
                        ModelVersion.pt2_sha256.is_(None),
                        ModelVersion.model_id.in_(holder),
                    )
                    .values(pt2_sha256=sha256, storage_bytes=ModelVersion.storage_bytes + size)
                ),
            )
            if result.rowcount != 1:
                return False
            session.execute(
                update(Model)
                .where(Model.id == model_id)
                .values(storage_bytes=Model.storage_bytes + size)
            )
            return True

    def models_missing_programs(self) -> list[str]:
        """Models (not deleted) with a version whose program was never recorded (its
        worker died first) and no live lease."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Model.id)
                    .where(
                        Model.id.in_(
                            select(ModelVersion.model_id).where(
                                ModelVersion.pt2_sha256.is_(None),
                                ModelVersion.pruned_at.is_(None),
                            )
                        ),
                        Model.deleted_at.is_(None),
                        or_(Model.lease_owner.is_(None), Model.lease_expires_at < utcnow()),
                    )
                    .order_by(Model.id)
                )
            )
