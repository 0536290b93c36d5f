"""Running a model's queued jobs, one at a time in queue order, each from the version the
previous one produced.

The next job comes from the database under the model's update lease, not from the broker,
so order holds however messages are duplicated or redelivered. A model's first job makes
version 0 (build → load the uploaded weights, if any → write → publish, the model turns
ready); a rollback copies an earlier version's objects and publishes them as the next
version (``worker/rollback.py``); every other applies a chunk: load → fit → evaluate →
write (under a prefix of its own) → publish (one transaction). A crash before publishing
leaves no version, and the job runs again from the same base version. Once the queue is
drained, the new versions' ``.pt2`` programs follow (``worker/program_export.py``).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import torch
from sqlalchemy.orm import Session, sessionmaker

from app.logs import bound
from app.storage import ObjectStore, version_prefix
from worker.chunk_data import (
    ChunkDataError,
    ChunkTensors,
    load_chunk,
    load_eval_split,
    save_eval_split,
)
from worker.divergence import weights_are_finite
from worker.eval_cache import EvalCache
from worker.evaluation import accuracy
from worker.faults import is_infrastructure_fault
from worker.job_store import JobStore
from worker.loss_curve import LossCurve
from worker.program_export import export_next_program
from worker.rollback import RollbackPlan, StillOurs, run_rollback
from worker.store.claims import InitialisePlan, JobPlan
from worker.updaters.protocol import Experience, LossSoFar, ProgressFn, StateMismatch, Updater
from worker.updaters.registry import build_updater
from worker.version_files import SavedState, load_model, load_saved_state, write_version
from worker.version_zero import WeightsMisfit, make_initial_model

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
PROGRESS_EVERY_S = 0.5


class TrainingDiverged(Exception):
    """The update produced non-finite weights; it is never published (permanent)."""


class LeaseLost(Exception):
    """Another worker took the model over (our lease expired): abandon this attempt."""


class JobCancelled(Exception):
    """The job was cancelled while it ran (seen at a progress report or at publish): stop,
    publish nothing, and go on with the model's next job."""


@dataclass
class JobRunner:
    """Runs jobs as worker ``owner``, training on ``device``."""

    sessions: sessionmaker[Session]
    store: ObjectStore
    device: torch.device
    owner: str
    lease_seconds: float = 120.0
    eval_cache: EvalCache = field(default_factory=EvalCache)
    jobs: JobStore = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = JobStore(self.sessions)

    def process_model(self, model_id: str) -> bool:
        with bound(model_id=model_id):  # on every log line of its jobs (app/logs.py)
            return self._process_model(model_id)

    def _process_model(self, model_id: str) -> bool:
        """Run the model's pending jobs in order, then export the programs that follow
        their versions (a job queued meanwhile goes first). False if another worker holds
        its lease."""
        if not self.jobs.take_lease(
            model_id=model_id, owner=self.owner, seconds=self.lease_seconds
        ):
            return False
        try:
            while True:
                if (job_id := self.jobs.next_job_id(model_id=model_id)) is not None:
                    self.run_job(job_id)
                elif not self._export_next_program(model_id):
                    break
        except LeaseLost:
            log.warning("lease on model %s lost; another worker continues", model_id)
            return True
        finally:
            self.jobs.release_lease(model_id=model_id, owner=self.owner)
        return True

    def _export_next_program(self, model_id: str) -> bool:
        """False when none is left; a failure is logged and left to the reconciler."""
        try:
            return export_next_program(
                self.jobs,
                self.store,
                model_id=model_id,
                owner=self.owner,
                lease_seconds=self.lease_seconds,
            )
        except Exception:
            log.exception("model %s: exporting a .pt2 program failed; retried later", model_id)
            return False

    def run_job(self, job_id: str) -> None:
        with bound(job_id=job_id):
            self._run_job(job_id)
            log.info("job attempt ended", extra=self.jobs.outcome(job_id=job_id))

    def _run_job(self, job_id: str) -> None:
        """One attempt. Bad data and divergence fail the job; any other fault requeues it
        (or fails it, out of attempts) and is re-raised for Celery to retry. An
        infrastructure fault (``worker/faults.py``) never uses up an attempt."""
        attempt = uuid.uuid4().hex[:12]
        plan = self.jobs.claim(job_id=job_id, max_attempts=MAX_ATTEMPTS)
        if plan is None:
            return
        log.info("job attempt started", extra={"attempt": attempt, "plan": type(plan).__name__})
        try:
            if isinstance(plan, InitialisePlan):
                self._initialise_and_publish(plan, attempt)
            elif isinstance(plan, RollbackPlan):
                prefix = version_prefix(plan.model_id, plan.base_number + 1, attempt)
                if not run_rollback(
                    self.store,
                    self.sessions,
                    plan,
                    prefix=prefix,
                    owner=self.owner,
                    still_ours=self._copy_reporter(plan.job_id, plan.model_id),
                ):
                    raise self._stopped(plan.job_id, plan.model_id)
            else:
                self._train_and_publish(plan, attempt)
        except LeaseLost:
            raise
        except JobCancelled:
            log.info("job %s was cancelled while running; nothing published", job_id)
        except ChunkDataError as exc:
            self.jobs.fail(job_id=job_id, error=f"invalid chunk: {exc}")
        except (TrainingDiverged, WeightsMisfit) as exc:
            self.jobs.fail(job_id=job_id, error=str(exc))
        except Exception as exc:
            # A database, store or broker fault is not the job's: its attempt is given back.
            infrastructure = is_infrastructure_fault(exc)
            log.exception("job %s attempt failed (infrastructure: %s)", job_id, infrastructure)
            self.jobs.requeue_or_fail(
                job_id=job_id,
                error=f"{type(exc).__name__}: {exc}",
                max_attempts=MAX_ATTEMPTS,
                counts=not infrastructure,
            )
            raise

    def _initialise_and_publish(self, plan: InitialisePlan, attempt: str) -> None:
        started = time.perf_counter()
        model = make_initial_model(
            self.store, plan.architecture, plan.training.seed, plan.weights_key
        )
        t = time.perf_counter()
        prefix = version_prefix(plan.model_id, 0, attempt)
        written = write_version(
            self.store,
            prefix,
            model,
            plan.architecture,
            None,
            {"relearn.model_id": plan.model_id, "relearn.version": "0"},
        )
        metrics: dict[str, Any] = {
            "initialisation": {
                "weights": "uploaded" if plan.weights_key is not None else "seeded",
                "seed": plan.training.seed,
            },
            "timings": {"build_s": t - started, "write_s": time.perf_counter() - t},
        }
        if not self.jobs.publish_initial(
            plan=plan, prefix=prefix, written=written, metrics=metrics, owner=self.owner
        ):
            self.store.delete_prefix(prefix)
            raise self._stopped(plan.job_id, plan.model_id)

    def _train_and_publish(self, plan: JobPlan, attempt: str) -> None:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        model = load_model(self.store, plan.base_prefix, plan.architecture, self.device)
        updater, state_reset = self._updater(plan, model)
        data = load_chunk(self.store, plan.current.object_key, plan.current.format, self.device)
        timings["load_s"] = time.perf_counter() - started

        t = time.perf_counter()
        report = updater.fit(
            Experience(data.x, data.y), self._progress_reporter(plan.job_id, plan.model_id)
        )
        timings["fit_s"] = time.perf_counter() - t
        if not weights_are_finite(model):
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
            "chunk_ids": [chunk.id for chunk in plan.chunks],
            "average_accuracy": statistics.fmean(known) if known else None,
            "train": report.as_dict(),
            "state_reset": state_reset,
            "device": str(self.device),
            "timings": timings,
        }
        if not self.jobs.publish(
            plan=plan,
            number=number,
            prefix=prefix,
            written=written,
            metrics=finite_json(metrics),
            owner=self.owner,
        ):
            self.store.delete_prefix(prefix)
            raise self._stopped(plan.job_id, plan.model_id)

    def _updater(self, plan: JobPlan, model: torch.nn.Module) -> tuple[Updater, bool]:
        """The job's updater, restored from the base version's state when that state is
        this updater's and fits its hyperparameters; else fresh. True when state was
        dropped (reported as ``state_reset``)."""
        saved = load_saved_state(self.store, plan.base_prefix, self.device)
        if saved is not None and saved.updater == plan.updater.name:
            try:
                updater = build_updater(
                    plan.updater, model, plan.training, self.device, saved.state
                )
            except StateMismatch as exc:
                log.warning(
                    "job %s: saved state does not fit (%s); starting fresh", plan.job_id, exc
                )
            else:
                return updater, False
        fresh = build_updater(plan.updater, model, plan.training, self.device, None)
        return fresh, saved is not None

    def _accuracy_row(
        self, model: torch.nn.Module, plan: JobPlan, current: ChunkTensors
    ) -> list[float | None]:
        """Accuracy on each applied chunk's eval split (None where it has none), then on
        this chunk's: this job's row of the accuracy matrix."""
        row: list[float | None] = []
        for chunk in plan.chunks[:-1]:
            if chunk.num_eval == 0:
                row.append(None)
                continue
            split = self.eval_cache.get(plan.model_id, chunk.id)
            if split is None:
                split = load_eval_split(
                    self.store, plan.model_id, chunk.id, chunk.object_key, chunk.format, self.device
                )
                self.eval_cache.put(plan.model_id, chunk.id, *split)
            row.append(accuracy(model, *split, plan.training))
        if current.x_eval is None or current.y_eval is None:
            row.append(None)
        else:
            save_eval_split(self.store, plan.model_id, plan.current.id, current)
            self.eval_cache.put(plan.model_id, plan.current.id, current.x_eval, current.y_eval)
            row.append(accuracy(model, current.x_eval, current.y_eval, plan.training))
        return row

    def _progress_reporter(self, job_id: str, model_id: str) -> ProgressFn:
        """Throttled progress writes, each with the loss so far (read only then: reading it
        waits for the device), and each renewing the model's lease."""
        last = 0.0
        curve = LossCurve()

        def report(fraction: float, loss: LossSoFar) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_EVERY_S and fraction < 1.0:
                return
            last = now
            fraction = min(fraction, 0.99)  # 1.0 only once published
            curve.add(fraction, loss())
            if not self.jobs.report_progress(
                job_id=job_id,
                model_id=model_id,
                fraction=fraction,
                loss_curve=curve.points,
                owner=self.owner,
                seconds=self.lease_seconds,
            ):
                raise self._stopped(job_id, model_id)

        return report

    def _copy_reporter(self, job_id: str, model_id: str) -> StillOurs:
        """For a rollback's copy: throttled progress writes, each renewing the lease."""
        last = time.monotonic()

        def still_ours(fraction: float) -> bool:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_EVERY_S:
                return True
            last = now
            return self.jobs.report_progress(
                job_id=job_id,
                model_id=model_id,
                fraction=min(fraction, 0.99),
                owner=self.owner,
                seconds=self.lease_seconds,
            )

        return still_ours

    def _stopped(self, job_id: str, model_id: str) -> JobCancelled | LeaseLost:
        """Why the store refused a write of this job: it was cancelled, or the lease lost."""
        if self.jobs.is_cancelled(job_id=job_id):
            return JobCancelled(job_id)
        return LeaseLost(model_id)


def finite_json(value: Any) -> Any:
    """NaN/Inf become null: JSON has no such numbers (and PostgreSQL refuses them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value
