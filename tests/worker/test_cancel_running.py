"""Cancelling a running job: it stops within seconds, publishes nothing, and the model's
next job runs (the runner's cooperative check at each progress report and at publish)."""

from __future__ import annotations

import threading
import time

import torch
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job, JobStatus, Model, ModelVersion
from app.services.deletion import delete_model
from app.services.jobs import cancel_job
from app.storage import ObjectStore
from tests.e2e.data import class_incremental_chunks, model_body
from tests.worker.factories import add_chunk, create_model
from worker.job_runner import JobRunner
from worker.job_store import JobStore
from worker.reconcile import sweep_deleted

SLOW = model_body("slow", {"name": "er", "params": {"memory_size": 20}}, epochs=1000)


def wait_for(condition: object, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("timed out")


def status_of(sessions: sessionmaker[Session], job_id: str) -> tuple[str, float]:
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status, job.progress


def test_a_running_job_cancelled_stops_within_seconds_and_the_next_job_runs(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: a worker training the first of two chunks, with a long training
    model_id = create_model(sessions, store, SLOW)
    first, second = (
        add_chunk(sessions, store, model_id, c) for c in class_incremental_chunks(2, n=3000)
    )
    runner = JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner="w1")
    worker = threading.Thread(target=runner.process_model, args=(model_id,))
    worker.start()
    wait_for(lambda: status_of(sessions, first) == ("running", status_of(sessions, first)[1])
             and status_of(sessions, first)[1] > 0, timeout=60)  # fmt: skip
    with sessions.begin() as session:  # the next job trains for one epoch
        model = session.get(Model, model_id)
        assert model is not None
        model.training = {**model.training, "epochs": 1}

    # when: the API cancels it
    with sessions() as session:
        answered = cancel_job(session=session, job_id=first)
    assert answered.status == JobStatus.cancelled

    # then: the worker stops it within seconds and runs the next job from version 0
    took = wait_for(lambda: status_of(sessions, second)[0] == "succeeded", timeout=30)
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert took < 10
    assert status_of(sessions, first)[0] == "cancelled"
    with sessions() as session:
        published = session.scalars(
            select(ModelVersion).where(ModelVersion.model_id == model_id)
        ).all()
        assert [(v.number, v.job_id) for v in published] == [(0, None), (1, second)]
        assert published[1].parent == 0
        done = session.get(Job, second)
        assert done is not None and done.base_version == 0
    # and: only published versions have objects (nothing of the cancelled attempt)
    prefixes = {key.rsplit("/", 1)[0] for key in store.list(f"models/{model_id}/versions")}
    assert prefixes == {v.prefix for v in published}


def test_a_delete_during_a_running_job_stops_it_and_the_sweep_removes_everything(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: a worker training the first of two chunks
    model_id = create_model(sessions, store, SLOW)
    chunks = class_incremental_chunks(2, n=3000)
    first, second = (add_chunk(sessions, store, model_id, c) for c in chunks)
    runner = JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner="w1")
    worker = threading.Thread(target=runner.process_model, args=(model_id,))
    worker.start()
    wait_for(lambda: status_of(sessions, first)[1] > 0, timeout=60)

    # when: the model is deleted
    with sessions() as session:
        delete_model(session=session, model_id=model_id)

    # then: the worker stops within seconds, running nothing more, and publishes nothing
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert [status_of(sessions, j)[0] for j in (first, second)] == ["cancelled", "cancelled"]
    with sessions() as session:
        numbers = session.scalars(
            select(ModelVersion.number).where(ModelVersion.model_id == model_id)
        ).all()
        assert list(numbers) == [0]
    # and: the sweep (lease now free) removes its objects and rows
    assert sweep_deleted(JobStore(sessions), store) == 1
    assert store.list(f"models/{model_id}") == []
    with sessions() as session:
        assert session.get(Model, model_id) is None
