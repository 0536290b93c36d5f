"""Publishing a version: the version row, ``latest`` moved, the job succeeded and the
storage counted, in one transaction (and for an update, the promotion gate decided)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job, JobStatus, Model, ModelStatus, ModelVersion, utcnow
from worker.promotion_gate import promotion_gate
from worker.store.claims import InitialisePlan, JobPlan
from worker.store.commit_version import Refused, commit_version

if TYPE_CHECKING:
    from worker.version_files import WrittenVersion


@dataclass(frozen=True)
class PublicationQueries:
    """The publishing transactions."""

    sessions: sessionmaker[Session]

    def publish(
        self,
        *,
        plan: JobPlan,
        number: int,
        prefix: str,
        written: WrittenVersion,
        metrics: dict[str, Any],
        owner: str,
    ) -> bool:
        """Make version ``number`` the model's latest and the job succeeded, together. Only
        while the job is still running (not cancelled), from the plan's base version and
        while ``owner`` holds the lease; else False and nothing changes. The model's
        promotion gate is decided here too (``metrics.promotion``): its alias moves to the
        new version in this same transaction, or stays."""
        try:
            with self.sessions.begin() as session:
                gate = promotion_gate(session, plan.model_id, metrics.get("accuracy"))
                if gate is not None:
                    metrics = {**metrics, "promotion": gate[1].as_dict()}
                version = ModelVersion(
                    model_id=plan.model_id,
                    number=number,
                    job_id=plan.job_id,
                    chunk_id=plan.current.id,
                    prefix=prefix,
                    artifact_sha256=written.artifact_sha256,
                    artifact_size=written.artifact_size,
                    pt2_sha256=written.pt2_sha256,
                    updater=plan.updater.model_dump(),
                    metrics=metrics,
                    parent=plan.base_number,
                    storage_bytes=written.stored_bytes,
                )
                commit_version(
                    session, version, base_number=plan.base_number, owner=owner, gate=gate
                )
        except Refused:
            return False
        return True

    def publish_initial(
        self,
        *,
        plan: InitialisePlan,
        prefix: str,
        written: WrittenVersion,
        metrics: dict[str, Any],
        owner: str,
    ) -> bool:
        """Version 0 exists and the model is ready, together. Only while the model is
        initialising and ``owner`` holds the lease; else False and nothing changes."""
        with self.sessions.begin() as session:
            moved = cast(
                CursorResult[Any],
                session.execute(
                    update(Model)
                    .where(
                        Model.id == plan.model_id,
                        Model.status == ModelStatus.initialising,
                        Model.latest_version == 0,
                        Model.lease_owner == owner,
                    )
                    .values(
                        status=ModelStatus.ready,
                        error=None,
                        storage_bytes=Model.storage_bytes + written.stored_bytes,
                    )
                ),
            )
            if moved.rowcount != 1:
                return False
            session.add(
                ModelVersion(
                    model_id=plan.model_id,
                    number=0,
                    prefix=prefix,
                    artifact_sha256=written.artifact_sha256,
                    artifact_size=written.artifact_size,
                    pt2_sha256=written.pt2_sha256,
                    metrics=metrics,
                    storage_bytes=written.stored_bytes,
                )
            )
            session.execute(
                update(Job)
                .where(Job.id == plan.job_id)
                .values(
                    status=JobStatus.succeeded,
                    progress=1.0,
                    metrics=metrics,
                    result_version=0,
                    finished_at=utcnow(),
                    error=None,
                )
            )
            return True
