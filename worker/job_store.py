"""Every query the worker runs, each method one transaction.

The job runner, the tasks, the heartbeat and the reconciler call these named methods and
hold no SQL of their own (the lease's conditional UPDATEs are ``worker.lease``, composed
here). Policy stays with the callers: they pass the attempt limit and the lease owner, and
a lost lease comes back as ``False`` for them to act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import ArchitectureSpec
from app.db.models import (
    Alias,
    Chunk,
    Job,
    JobKind,
    JobStatus,
    Model,
    ModelStatus,
    ModelVersion,
    Worker,
    utcnow,
)
from app.promotion import Decision, decide
from app.schemas.updaters import TrainingConfig, UpdaterSpec
from app.services.aliases import point_alias
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
class InitialisePlan:
    """What making version 0 needs: the architecture, the seed, and the uploaded weights'
    object key (None: the architecture's seeded initialisation)."""

    job_id: str
    model_id: str
    architecture: ArchitectureSpec
    training: TrainingConfig
    weights_key: str | None


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

    def claim(self, *, job_id: str, max_attempts: int) -> JobPlan | InitialisePlan | None:
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
                _fail(session, job, f"gave up after {job.attempts} attempts")
                return None
            if job.kind == JobKind.update and model.status == ModelStatus.failed:
                _fail(session, job, f"the model has no version 0: {model.error}")
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
            base = session.get(ModelVersion, (model.id, model.latest_version))
            if base is None:
                _fail(session, job, "the model has no version 0 (its initialisation never ran)")
                return None
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
                architecture=architecture,
                training=training,
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
        lease was lost or the job is no longer running (cancelled: the runner's cooperative
        check between training steps)."""
        with self.sessions.begin() as session:
            if not lease.renew(session=session, model_id=model_id, owner=owner, seconds=seconds):
                return False
            written = cast(
                CursorResult[Any],
                session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == JobStatus.running)
                    .values(progress=fraction)
                ),
            )
            return written.rowcount == 1

    def is_cancelled(self, *, job_id: str) -> bool:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            return job is None or job.status == JobStatus.cancelled

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
                gate = _promotion_gate(session, plan.model_id, metrics.get("accuracy"))
                if gate is not None:
                    metrics = {**metrics, "promotion": gate[1].as_dict()}
                # The job row first: a cancel committed before this wins, and one arriving
                # after waits on this row and then finds the job succeeded.
                finished = cast(
                    CursorResult[Any],
                    session.execute(
                        update(Job)
                        .where(Job.id == plan.job_id, Job.status == JobStatus.running)
                        .values(
                            status=JobStatus.succeeded,
                            progress=1.0,
                            metrics=metrics,
                            result_version=number,
                            finished_at=utcnow(),
                            error=None,
                        )
                    ),
                )
                if finished.rowcount != 1:
                    raise _Refused
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
                    raise _Refused
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
                        parent=plan.base_number,
                    )
                )
                if gate is not None and gate[1].promoted:
                    session.flush()
                    point_alias(session, model_id=plan.model_id, name=gate[0], version=number)
        except _Refused:
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
                    .values(status=ModelStatus.ready, error=None)
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

    def fail(self, *, job_id: str, error: str) -> None:
        """Fail the job for good (a fault no retry can fix); an initialise job fails its
        model with it."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status != JobStatus.cancelled:
                _fail(session, job, error)

    def requeue_or_fail(
        self, *, job_id: str, error: str, max_attempts: int, counts: bool = True
    ) -> None:
        """After a passing fault: back to the queue, or failed once out of attempts. An
        attempt that does not count (an infrastructure fault) is given back."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status == JobStatus.cancelled:  # cancelled while it ran: stays so
                return
            if not counts:
                job.attempts = max(0, job.attempts - 1)
                job.status = JobStatus.queued
            elif job.attempts >= max_attempts:
                _fail(session, job, error)
            else:
                job.status = JobStatus.queued

    def is_pending(self, *, job_id: str) -> bool:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            return job is not None and job.status in PENDING

    # The workers table: what each worker can build, and its heartbeat.

    def record_worker(
        self, *, worker_id: str, hostname: str, architectures: list[dict[str, Any]]
    ) -> None:
        """Insert this worker's row, or refresh its ``last_seen`` and announcement."""
        with self.sessions.begin() as session:
            row = session.get(Worker, worker_id)
            if row is None:
                session.add(Worker(id=worker_id, hostname=hostname, architectures=architectures))
            else:
                row.last_seen = utcnow()
                row.architectures = architectures

    def forget_workers(self, *, unseen_for: timedelta) -> int:
        """Delete the rows of workers not seen for ``unseen_for`` (long gone)."""
        with self.sessions.begin() as session:
            result = cast(
                CursorResult[Any],
                session.execute(delete(Worker).where(Worker.last_seen < utcnow() - unseen_for)),
            )
            return result.rowcount

    # Deleted models: the sweeper removes their objects, then their rows.

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


def _promotion_gate(
    session: Session, model_id: str, row: list[float | None] | None
) -> tuple[str, Decision] | None:
    """The model's gate alias and its decision on the accuracy matrix this new row
    completes (the rows of the versions trained on chunks, oldest first); None without
    a gate."""
    model = session.get(Model, model_id)
    if model is None or not model.promotion:
        return None
    rows = session.scalars(
        select(ModelVersion.metrics)
        .where(
            ModelVersion.model_id == model_id,
            ModelVersion.number >= 1,
            ModelVersion.chunk_id.is_not(None),
        )
        .order_by(ModelVersion.number)
    )
    matrix = [list(m.get("accuracy") or []) for m in rows]
    matrix.append(list(row or []))
    return str(model.promotion["alias"]), decide(model.promotion, matrix)


class _Refused(Exception):
    """Rolls a publish transaction back: one of its conditions did not hold."""


def _fail(session: Session, job: Job, error: str) -> None:
    job.status = JobStatus.failed
    job.error = error
    job.finished_at = utcnow()
    if job.kind == JobKind.initialise:
        model = session.get(Model, job.model_id)
        assert model is not None
        model.status = ModelStatus.failed
        model.error = error
