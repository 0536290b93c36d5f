"""Every query the worker runs, each method one transaction.

The job runner, the tasks and the reconciler call these named methods and hold no SQL of
their own (the lease's conditional UPDATEs are ``worker.lease``, composed here). Policy
stays with the callers: they pass the attempt limit and the lease owner, and a lost lease
comes back as ``False`` for them to act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import ArchitectureSpec
from app.db.models import Chunk, Job, JobStatus, Model, ModelVersion, utcnow
from app.schemas.updaters import TrainingConfig, UpdaterSpec
from worker import lease

if TYPE_CHECKING:
    from worker.version_files import WrittenVersion

PENDING = (JobStatus.queued, JobStatus.running)


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
class JobStore:
    """The worker's queries over one database."""

    sessions: sessionmaker[Session]

    # The model's update lease.

    def take_lease(self, *, model_id: str, owner: str, seconds: float) -> bool:
        with self.sessions.begin() as session:
            return lease.try_acquire(
                session=session, model_id=model_id, owner=owner, seconds=seconds
            )

    def release_lease(self, *, model_id: str, owner: str) -> None:
        with self.sessions.begin() as session:
            lease.release(session=session, model_id=model_id, owner=owner)

    # A job's life: next, claim, progress, then publish, fail or requeue.

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

    def claim(self, *, job_id: str, max_attempts: int) -> JobPlan | None:
        """Start an attempt: mark the job running from the model's latest version and read
        its plan. None when there is nothing to run: cancelled or finished since it was
        picked, or out of attempts (then it is failed)."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status not in PENDING:
                return None
            model = session.get(Model, job.model_id)
            assert model is not None
            if job.attempts >= max_attempts:
                _fail(job, f"gave up after {job.attempts} attempts")
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
            job.base_version = model.latest_version
            job.progress = 0.0
            base = session.get(ModelVersion, (model.id, model.latest_version))
            assert base is not None
            applied = list(
                session.scalars(
                    select(Chunk)
                    .join(ModelVersion, ModelVersion.chunk_id == Chunk.id)
                    .where(ModelVersion.model_id == model.id, ModelVersion.number >= 1)
                    .order_by(ModelVersion.number)
                )
            )
            current = session.get(Chunk, job.chunk_id)
            assert current is not None
            return JobPlan(
                job_id=job.id,
                model_id=model.id,
                base_number=base.number,
                base_prefix=base.prefix,
                architecture=ArchitectureSpec.model_validate(model.architecture),
                training=TrainingConfig.model_validate(model.training),
                updater=UpdaterSpec.model_validate(job.updater),
                chunks=tuple(
                    ChunkRef(id=c.id, object_key=c.object_key, format=c.format, num_eval=c.num_eval)
                    for c in [*applied, current]
                ),
            )

    def report_progress(
        self, *, job_id: str, model_id: str, fraction: float, owner: str, seconds: float
    ) -> bool:
        """Renew the lease and write the job's progress; False (nothing written) if the
        lease was lost."""
        with self.sessions.begin() as session:
            if not lease.renew(session=session, model_id=model_id, owner=owner, seconds=seconds):
                return False
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.running)
                .values(progress=fraction)
            )
            return True

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
        from the plan's base version and while ``owner`` holds the lease; else False and
        nothing changes."""
        with self.sessions.begin() as session:
            moved = cast(
                CursorResult[Any],
                session.execute(
                    update(Model)
                    .where(
                        Model.id == plan.model_id,
                        Model.latest_version == plan.base_number,
                        Model.lease_owner == owner,
                    )
                    .values(latest_version=number)
                ),
            )
            if moved.rowcount != 1:
                return False
            session.add(
                ModelVersion(
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
                )
            )
            session.execute(
                update(Job)
                .where(Job.id == plan.job_id)
                .values(
                    status=JobStatus.succeeded,
                    progress=1.0,
                    metrics=metrics,
                    result_version=number,
                    finished_at=utcnow(),
                    error=None,
                )
            )
            return True

    def fail(self, *, job_id: str, error: str) -> None:
        """Fail the job for good (a fault no retry can fix)."""
        with self.sessions.begin() as session:
            _fail(session.get(Job, job_id), error)

    def requeue_or_fail(self, *, job_id: str, error: str, max_attempts: int) -> None:
        """After a passing fault: back to the queue, or failed once out of attempts."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.attempts >= max_attempts:
                _fail(job, error)
            else:
                job.status = JobStatus.queued

    def is_pending(self, *, job_id: str) -> bool:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            return job is not None and job.status in PENDING

    # Exporting version 0's program.

    def version_to_export(
        self, *, model_id: str, number: int
    ) -> tuple[str, ArchitectureSpec] | None:
        """(prefix, architecture) of a version still without its ``.pt2``, else None."""
        with self.sessions() as session:
            version = session.get(ModelVersion, (model_id, number))
            model = session.get(Model, model_id)
            if version is None or model is None or version.pt2_sha256 is not None:
                return None
            return version.prefix, ArchitectureSpec.model_validate(model.architecture)

    def record_program(self, *, model_id: str, number: int, sha256: str) -> None:
        """Store the exported program's digest, unless another export got there first."""
        with self.sessions.begin() as session:
            version = session.get(ModelVersion, (model_id, number))
            if version is not None and version.pt2_sha256 is None:
                version.pt2_sha256 = sha256

    # What the reconciler re-sends.

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

    def versions_missing_program(self, *, older_than_s: float = 60.0) -> list[tuple[str, int]]:
        """Versions still without their ``.pt2`` a while after they were created (the
        export message of version 0 was lost)."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        with self.sessions() as session:
            rows = session.execute(
                select(ModelVersion.model_id, ModelVersion.number)
                .where(ModelVersion.pt2_sha256.is_(None), ModelVersion.created_at < cutoff)
                .order_by(ModelVersion.model_id, ModelVersion.number)
            ).all()
            return [(model_id, number) for model_id, number in rows]


def _fail(job: Job | None, error: str) -> None:
    assert job is not None
    job.status = JobStatus.failed
    job.error = error
    job.finished_at = utcnow()
