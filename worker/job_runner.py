"""Running a model's queued jobs: one at a time, in chunk order, each from the version the
previous one produced.

The broker only says "model X may have work"; which job runs next comes from the
database (the earliest job of the model still queued or running), under the model's
update lease. So ordering holds even on brokers that are not FIFO (kombu's filesystem
transport) and when messages are duplicated or redelivered.

The life of one job:
1. mark it running (attempt counted) with ``base_version`` = the model's latest version;
2. load the base version's weights and updater state, and the chunk;
3. ``updater.fit`` (progress and lease heartbeat on the way);
4. evaluate on every eval split received so far (a row of the accuracy matrix);
5. write the new version's objects under a prefix unique to this attempt;
6. one transaction: move ``latest_version`` (only from ``base_version`` and only while we
   hold the lease), insert the ``ModelVersion``, mark the job succeeded.
A crash before 6 leaves no version; the job runs again from the same base version.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import ArchitectureSpec
from app.db.models import Chunk, Job, JobStatus, Model, ModelVersion, utcnow
from app.schemas.updaters import TrainingConfig, UpdaterSpec
from app.storage import ObjectStore, version_prefix
from worker import lease
from worker.chunk_data import (
    ChunkDataError,
    ChunkTensors,
    load_chunk,
    load_eval_split,
    save_eval_split,
)
from worker.evaluation import accuracy
from worker.updaters.protocol import Experience
from worker.updaters.registry import build_updater
from worker.version_files import SavedState, load_model, load_saved_state, write_version

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
PROGRESS_EVERY_S = 0.5


class TrainingDiverged(Exception):
    """The update produced non-finite weights; it is never published (permanent)."""


class LeaseLost(Exception):
    """Another worker took the model over (our lease expired): abandon this attempt."""


@dataclass
class JobRunner:
    sessions: sessionmaker[Session]
    store: ObjectStore
    device: torch.device
    owner: str
    lease_seconds: float = 120.0

    def process_model(self, model_id: str) -> bool:
        """Run the model's pending jobs in order. False if another worker holds its lease."""
        with self.sessions.begin() as session:
            if not lease.try_acquire(
                session=session, model_id=model_id, owner=self.owner, seconds=self.lease_seconds
            ):
                return False
        try:
            while (job_id := self._next_job_id(model_id)) is not None:
                self.run_job(job_id)
        except LeaseLost:
            log.warning("lease on model %s lost; another worker continues", model_id)
            return True
        finally:
            with self.sessions.begin() as session:
                lease.release(session=session, model_id=model_id, owner=self.owner)
        return True

    def _next_job_id(self, model_id: str) -> str | None:
        with self.sessions() as session:
            return session.scalar(
                select(Job.id)
                .where(
                    Job.model_id == model_id,
                    Job.status.in_([JobStatus.queued, JobStatus.running]),
                )
                .order_by(Job.seq)
                .limit(1)
            )

    def run_job(self, job_id: str) -> None:
        attempt = uuid.uuid4().hex[:12]
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status not in (JobStatus.queued, JobStatus.running):
                return  # cancelled (or finished) since it was picked
            model = session.get(Model, job.model_id)
            assert model is not None
            if job.attempts >= MAX_ATTEMPTS:
                self._fail(session, job, f"gave up after {job.attempts} attempts")
                return
            # Conditional, so that a cancel committed since we read the row wins.
            claimed = session.execute(
                update(Job)
                .where(Job.id == job.id, Job.status.in_([JobStatus.queued, JobStatus.running]))
                .values(status=JobStatus.running)
            )
            if claimed.rowcount != 1:
                return
            job.attempts += 1
            job.started_at = job.started_at or utcnow()
            job.base_version = model.latest_version
            job.progress = 0.0
            base = session.get(ModelVersion, (model.id, model.latest_version))
            # The chunks applied so far (those that produced versions 1..base), then this
            # one: the columns of this job's row of the accuracy matrix.
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
            chunks = [*applied, current]
            assert base is not None
            plan = _Plan(
                job_id=job.id,
                model_id=model.id,
                seq=job.seq,
                base_number=base.number,
                base_prefix=base.prefix,
                architecture=ArchitectureSpec.model_validate(model.architecture),
                training=TrainingConfig.model_validate(model.training),
                updater=UpdaterSpec.model_validate(job.updater),
                chunks=[(c.id, c.object_key, c.format, c.num_eval) for c in chunks],
            )
        try:
            self._train_and_publish(plan, attempt)
        except LeaseLost:
            raise
        except ChunkDataError as exc:
            with self.sessions.begin() as session:
                self._fail(session, session.get(Job, job_id), f"invalid chunk: {exc}")
        except TrainingDiverged as exc:
            with self.sessions.begin() as session:
                self._fail(session, session.get(Job, job_id), str(exc))
        except Exception as exc:
            log.exception("job %s attempt failed", job_id)
            with self.sessions.begin() as session:
                job = session.get(Job, job_id)
                assert job is not None
                if job.attempts >= MAX_ATTEMPTS:
                    self._fail(session, job, f"{type(exc).__name__}: {exc}")
                else:
                    job.status = JobStatus.queued
            raise

    def _train_and_publish(self, plan: _Plan, attempt: str) -> None:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        model = load_model(self.store, plan.base_prefix, plan.architecture, self.device)
        saved = load_saved_state(self.store, plan.base_prefix, self.device)
        state_reset = saved is not None and saved.updater != plan.updater.name
        state = saved.state if saved is not None and not state_reset else None
        try:
            updater = build_updater(plan.updater, model, plan.training, self.device, state)
        except ValueError:
            # The saved state does not fit this job's hyperparameters (e.g. a different
            # memory_size: a reservoir sample cannot be resized and stay uniform).
            log.warning("job %s: saved updater state does not fit; starting fresh", plan.job_id)
            state_reset = True
            updater = build_updater(plan.updater, model, plan.training, self.device, None)
        current = plan.chunks[-1]
        data = load_chunk(self.store, current[1], current[2], self.device)
        timings["load_s"] = time.perf_counter() - started

        t = time.perf_counter()
        report = updater.fit(
            Experience(data.x, data.y), self._progress_reporter(plan.job_id, plan.model_id)
        )
        timings["fit_s"] = time.perf_counter() - t
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            raise TrainingDiverged(
                "training diverged: the weights are no longer finite (lower training.lr)"
            )

        t = time.perf_counter()
        row = self._accuracy_row(model, plan, data)
        timings["eval_s"] = time.perf_counter() - t

        t = time.perf_counter()
        number = plan.base_number + 1
        prefix = version_prefix(plan.model_id, number, attempt)
        written = write_version(
            self.store,
            prefix,
            model,
            plan.architecture,
            SavedState(updater=plan.updater.name, state=updater.state_dict()),
            {"relearn.model_id": plan.model_id, "relearn.version": str(number)},
        )
        timings["write_s"] = time.perf_counter() - t
        known = [a for a in row if a is not None]
        metrics: dict[str, Any] = {
            "accuracy": row,
            "chunk_ids": [chunk[0] for chunk in plan.chunks],
            "average_accuracy": statistics.fmean(known) if known else None,
            "train": report.as_dict(),
            "state_reset": state_reset,
            "device": str(self.device),
            "timings": timings,
        }
        try:
            self._publish(plan, number, prefix, written, finite_json(metrics))
        except LeaseLost:
            self.store.delete_prefix(prefix)
            raise

    def _accuracy_row(
        self, model: torch.nn.Module, plan: _Plan, current: ChunkTensors
    ) -> list[float | None]:
        """Accuracy on each applied chunk's eval split (None where it has none), then on
        this chunk's: this job's row of the accuracy matrix."""
        row: list[float | None] = []
        *earlier, (current_id, _, _, _) = plan.chunks
        for chunk_id, key, fmt, num_eval in earlier:
            if num_eval == 0:
                row.append(None)
                continue
            x, y = load_eval_split(self.store, plan.model_id, chunk_id, key, fmt, self.device)
            row.append(accuracy(model, x, y, plan.training))
        if current.x_eval is None or current.y_eval is None:
            row.append(None)
        else:
            save_eval_split(self.store, plan.model_id, current_id, current)
            row.append(accuracy(model, current.x_eval, current.y_eval, plan.training))
        return row

    def _publish(
        self, plan: _Plan, number: int, prefix: str, written: Any, metrics: dict[str, Any]
    ) -> None:
        with self.sessions.begin() as session:
            moved = session.execute(
                update(Model)
                .where(
                    Model.id == plan.model_id,
                    Model.latest_version == plan.base_number,
                    Model.lease_owner == self.owner,
                )
                .values(latest_version=number)
            )
            if moved.rowcount != 1:
                raise LeaseLost(plan.model_id)
            session.add(
                ModelVersion(
                    model_id=plan.model_id,
                    number=number,
                    job_id=plan.job_id,
                    chunk_id=plan.chunks[-1][0],
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

    def _progress_reporter(self, job_id: str, model_id: str) -> Callable[[float], None]:
        """Throttled progress writes, each of which also renews the model's lease."""
        last = 0.0

        def report(fraction: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_EVERY_S and fraction < 1.0:
                return
            last = now
            with self.sessions.begin() as session:
                if not lease.renew(
                    session=session,
                    model_id=model_id,
                    owner=self.owner,
                    seconds=self.lease_seconds,
                ):
                    raise LeaseLost(model_id)
                session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == JobStatus.running)
                    .values(progress=min(fraction, 0.99))
                )

        return report

    @staticmethod
    def _fail(session: Session, job: Job | None, error: str) -> None:
        assert job is not None
        job.status = JobStatus.failed
        job.error = error
        job.finished_at = utcnow()


def finite_json(value: Any) -> Any:
    """NaN/Inf become null: JSON has no such numbers (and PostgreSQL refuses them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


@dataclass
class _Plan:
    """What one attempt needs, read in one transaction at its start."""

    job_id: str
    model_id: str
    seq: int
    base_number: int
    base_prefix: str
    architecture: ArchitectureSpec
    training: TrainingConfig
    updater: UpdaterSpec
    chunks: list[tuple[str, str, str, int]]  # (id, object key, format, eval size), by seq
