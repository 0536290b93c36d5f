"""A rollback's copy keeps the model's lease: a copy that outlasts ``lease_seconds`` is not
taken over by another worker, and a copy whose lease is lost stops and leaves nothing.
SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import torch
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models import Job, JobStatus, Model, ModelVersion
from app.queue import TaskQueue, make_celery
from app.services.rollback import request_rollback
from app.storage import ObjectStore
from tests.e2e.data import class_incremental_chunks, model_body
from tests.worker.factories import add_chunk, create_model
from worker import lease
from worker.job_runner import JobRunner
from worker.rollback import RollbackPlan, run_rollback

BODY = model_body("leased", {"name": "er", "params": {"memory_size": 30}})


class SlowReads(ObjectStore):
    """The real store, each read taking ``delay`` seconds longer (a slow object store)."""

    def __init__(self, root: str, delay: float) -> None:
        super().__init__(root)
        self.delay = delay

    def get_file(self, key: str, local: str | os.PathLike[str]) -> None:
        time.sleep(self.delay)
        super().get_file(key, local)


def queued_rollback(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> tuple[str, str, str]:
    """A model at version 1 (one chunk applied) with a rollback to version 0 queued: the
    model, the job and version 0's prefix."""
    model_id = create_model(sessions, store, BODY)
    add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])
    JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner="w").process_model(
        model_id
    )
    settings = Settings(
        home=tmp_path / "home", database_url=None, storage_url=None, broker_url=None
    )
    tasks = TaskQueue(settings=settings, celery=make_celery(settings))
    with sessions() as session:
        job = request_rollback(session=session, tasks=tasks, model_id=model_id, version=0)
        source = session.get_one(ModelVersion, (model_id, 0))
    return model_id, job.id, source.prefix


def test_a_copy_longer_than_the_lease_keeps_it_and_publishes(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> None:
    # given: a rollback whose copy takes well over the worker's 1 s lease
    model_id, job_id, source_prefix = queued_rollback(sessions, store, tmp_path)
    objects = len(store.list(source_prefix))
    assert objects >= 2
    slow = SlowReads(store.root, delay=0.8)
    runner = JobRunner(
        sessions=sessions, store=slow, device=torch.device("cpu"), owner="w", lease_seconds=1.0
    )

    # when: the worker runs it while an intruder keeps trying to take the model over
    worker = threading.Thread(target=runner.process_model, args=(model_id,))
    started = time.monotonic()
    worker.start()
    taken: list[float] = []
    while worker.is_alive():
        time.sleep(0.1)
        if time.monotonic() - started < 1.2:
            continue
        with sessions.begin() as session:
            acquired = lease.try_acquire(
                session=session, model_id=model_id, owner="intruder", seconds=60
            )
        if acquired:  # free once the worker released it after publishing; never before
            with sessions() as session:
                if session.get_one(Job, job_id).status == JobStatus.running:
                    taken.append(time.monotonic() - started)
            break
    worker.join(timeout=60)

    # then: the copy outlasted the lease, nobody took the lease while the job ran, and the
    # rollback published
    assert time.monotonic() - started > 1.2 + 0.1
    assert taken == []
    with sessions() as session:
        job = session.get_one(Job, job_id)
        model = session.get_one(Model, model_id)
        assert job.status == JobStatus.succeeded
        assert model.latest_version == 2
        assert session.get_one(ModelVersion, (model_id, 2)).parent == 0


def test_a_copy_whose_lease_is_lost_stops_and_leaves_no_objects(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> None:
    # given: the plan of a rollback to version 0
    model_id, job_id, source_prefix = queued_rollback(sessions, store, tmp_path)
    plan = RollbackPlan(
        job_id=job_id,
        model_id=model_id,
        base_number=1,
        source_number=0,
        source_prefix=source_prefix,
    )
    answers: list[float] = []

    def lost_after_the_first(fraction: float) -> bool:
        answers.append(fraction)
        return False

    # when
    published = run_rollback(
        store, sessions, plan, prefix="copy-attempt", owner="w", still_ours=lost_after_the_first
    )

    # then: asked once, after the first object; nothing published, nothing left behind
    assert published is False
    assert len(answers) == 1 and 0 < answers[0] < 1
    assert store.list("copy-attempt") == []
    with sessions() as session:
        assert session.get_one(Model, model_id).latest_version == 1
