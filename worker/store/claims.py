"""Which job runs next, and the claim that starts its attempt and reads its plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import ArchitectureSpec
from app.db.models import Chunk, Job, JobKind, JobStatus, Model, ModelStatus, ModelVersion, utcnow
from app.schemas.updaters import TrainingConfig, UpdaterSpec
from app.services.lineage import chunk_versions
from worker.rollback import RollbackPlan, rollback_plan
from worker.store.attempts import PENDING, fail_job


@dataclass(frozen=True)
class ChunkRef:
    """Where a chunk is stored and how large its eval split is (0: none)."""

    id: str
    object_key: str
    format: str
    num_eval: int


@dataclass(frozen=True)
class JobPlan:
    """What one attempt needs, read in the transaction that claims the job."""

    job_id: str
    model_id: str
    base_number: int
    base_prefix: str
    architecture: ArchitectureSpec
    training: TrainingConfig
    updater: UpdaterSpec
    chunks: tuple[ChunkRef, ...]
    """The chunks behind versions 1..base, then this job's: the accuracy row's columns."""

    @property
    def current(self) -> ChunkRef:
        """The chunk this job applies."""
        return self.chunks[-1]


@dataclass(frozen=True)
class InitialisePlan:
    """What making version 0 needs: the architecture, the seed, and the uploaded weights'
    object key (None: the architecture's seeded initialisation)."""

    job_id: str
    model_id: str
    architecture: ArchitectureSpec
    training: TrainingConfig
    weights_key: str | None


@dataclass(frozen=True)
class ClaimQueries:
    """Picking and claiming a model's next job."""

    sessions: sessionmaker[Session]

    def next_job_id(self, *, model_id: str) -> str | None:
        """The model's earliest job still queued or running (order comes from here, not
        from the broker)."""
        with self.sessions() as session:
            return session.scalar(
                select(Job.id)
                .where(Job.model_id == model_id, Job.status.in_(PENDING))
                .order_by(Job.seq)
                .limit(1)
            )

    def claim(
        self, *, job_id: str, max_attempts: int
    ) -> JobPlan | InitialisePlan | RollbackPlan | None:
        """Start an attempt: mark the job running from the model's latest version and read
        its plan. None when there is nothing to run: cancelled or finished since it was
        picked, out of attempts, or a chunk of a model without version 0 (then it is
        failed)."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status not in PENDING:
                return None
            model = session.get(Model, job.model_id)
            assert model is not None
            if job.attempts >= max_attempts:
                fail_job(session, job, f"gave up after {job.attempts} attempts")
                return None
            if job.kind == JobKind.update and model.status == ModelStatus.failed:
                fail_job(session, job, f"the model has no version 0: {model.error}")
                return None
            # Conditional, so that a cancel committed since we read the row wins.
            claimed = cast(
                CursorResult[Any],
                session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.status.in_(PENDING))
                    .values(status=JobStatus.running)
                ),
            )
            if claimed.rowcount != 1:
                return None
            job.attempts += 1
            job.started_at = job.started_at or utcnow()
            job.progress = 0.0
            job.loss_curve = None  # each attempt draws its own
            architecture = ArchitectureSpec.model_validate(model.architecture)
            training = TrainingConfig.model_validate(model.training)
            if job.kind == JobKind.initialise:
                return InitialisePlan(
                    job_id=job.id,
                    model_id=model.id,
                    architecture=architecture,
                    training=training,
                    weights_key=model.initial_weights_key,
                )
            job.base_version = model.latest_version
            if job.kind == JobKind.rollback:
                return rollback_plan(session, job, model)
            base = session.get(ModelVersion, (model.id, model.latest_version))
            if base is None:
                fail_job(session, job, "the model has no version 0 (its initialisation never ran)")
                return None
            # The chunks of the base's lineage (a rollback's chunks after its version left).
            lineage = [
                str(v.chunk_id)
                for v in chunk_versions(session, model_id=model.id, head=base.number)
            ]
            found = {c.id: c for c in session.scalars(select(Chunk).where(Chunk.id.in_(lineage)))}
            applied = [found[chunk_id] for chunk_id in lineage]
            current = session.get(Chunk, job.chunk_id)
            assert current is not None
            return JobPlan(
                job_id=job.id,
                model_id=model.id,
                base_number=base.number,
                base_prefix=base.prefix,
                architecture=architecture,
                training=training,
                updater=UpdaterSpec.model_validate(job.updater),
                chunks=tuple(
                    ChunkRef(id=c.id, object_key=c.object_key, format=c.format, num_eval=c.num_eval)
                    for c in [*applied, current]
                ),
            )
