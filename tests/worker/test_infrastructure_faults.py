"""Infrastructure faults never fail a job: while the object store is down every attempt
goes back to the queue without using up an attempt; once it is back the job runs."""

from __future__ import annotations

from typing import Any, cast

import pytest
import torch
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job, JobStatus
from app.storage import ObjectStore, StorageUnavailable
from tests.e2e.data import class_incremental_chunks, model_body
from tests.services import free_port
from tests.worker.factories import add_chunk, create_model
from worker.faults import is_infrastructure_fault
from worker.job_runner import MAX_ATTEMPTS, JobRunner
from worker.tasks import FAILURE_RETRY_S, INFRASTRUCTURE_RETRY_MAX_S, retry_delay

BODY = model_body("faults", {"name": "er", "params": {"memory_size": 20}}, epochs=1)


class SwitchableStore:
    """The real store, behind a switch: while ``down`` every call raises as an unreachable
    S3 endpoint does (``StorageUnavailable``)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StorageUnavailable(f"object store down ({name})")
            return attribute(*args, **kwargs)

        return call


def job(sessions: sessionmaker[Session], job_id: str) -> Job:
    with sessions() as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def test_a_store_outage_longer_than_the_attempts_never_fails_the_job(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: a queued job and a store that goes down
    model_id = create_model(sessions, store, BODY)
    job_id = add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])
    switchable = SwitchableStore(store)
    worker = JobRunner(
        sessions=sessions,
        store=cast(ObjectStore, switchable),
        device=torch.device("cpu"),
        owner="w1",
    )
    switchable.down = True

    # when: far more attempts than MAX_ATTEMPTS meet the outage
    for _ in range(MAX_ATTEMPTS * 2):
        with pytest.raises(StorageUnavailable):
            worker.process_model(model_id)
        state = job(sessions, job_id)
        # then: back in the queue each time, no attempt used up
        assert (state.status, state.attempts) == (JobStatus.queued, 0)

    # and: once the store is back, the job runs to a version
    switchable.down = False
    worker.process_model(model_id)
    done = job(sessions, job_id)
    assert (done.status, done.attempts, done.result_version) == (JobStatus.succeeded, 1, 1)


def test_faults_are_told_apart_from_failures_of_the_job() -> None:
    # a real connection refused by PostgreSQL's driver (nothing listens on the port)
    engine = create_engine(f"postgresql+psycopg://u@127.0.0.1:{free_port()}/db")
    with pytest.raises(OperationalError) as refused, engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert is_infrastructure_fault(refused.value)
    assert is_infrastructure_fault(StorageUnavailable("timed out"))
    assert is_infrastructure_fault(ConnectionResetError())
    try:  # wrapped by the code that met it
        try:
            raise StorageUnavailable("down")
        except StorageUnavailable as inner:
            raise RuntimeError("could not read the chunk") from inner
    except RuntimeError as wrapped:
        assert is_infrastructure_fault(wrapped)
    # the job's own problems count
    assert not is_infrastructure_fault(FileNotFoundError("chunk gone"))
    assert not is_infrastructure_fault(ValueError("rows"))
    assert not is_infrastructure_fault(IntegrityError("INSERT", {}, Exception("dup")))
    assert not is_infrastructure_fault(MemoryError())


def test_infrastructure_retries_back_off_exponentially_up_to_a_cap() -> None:
    fault = StorageUnavailable("down")
    ceilings = [max(retry_delay(fault, n) for _ in range(50)) for n in range(8)]
    assert ceilings[0] <= 1.0 and ceilings[3] > 4.0 and ceilings[3] <= 8.0
    assert all(d <= INFRASTRUCTURE_RETRY_MAX_S for d in ceilings)
    assert max(retry_delay(fault, 50) for _ in range(50)) > INFRASTRUCTURE_RETRY_MAX_S / 2
    assert retry_delay(ValueError("bad"), 3) == FAILURE_RETRY_S
