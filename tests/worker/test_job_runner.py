"""The job runner on real databases (SQLite, PostgreSQL) and a real local store."""

from __future__ import annotations

import json

import pytest
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job, JobStatus, Model, ModelVersion
from app.storage import STATE_META_FILE, ObjectStore
from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.reference import uninterrupted_run
from tests.worker.factories import add_chunk, create_model
from worker import lease
from worker.job_runner import MAX_ATTEMPTS, JobRunner, LeaseLost
from worker.version_files import load_model

BODY = model_body("runner", {"name": "er", "params": {"memory_size": 20}}, epochs=1)


def runner(sessions: sessionmaker[Session], store: ObjectStore, owner: str = "w1") -> JobRunner:
    return JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner=owner)


def job(sessions: sessionmaker[Session], job_id: str) -> Job:
    with sessions() as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def versions(sessions: sessionmaker[Session], model_id: str) -> list[ModelVersion]:
    with sessions() as session:
        return list(
            session.scalars(
                select(ModelVersion)
                .where(ModelVersion.model_id == model_id)
                .order_by(ModelVersion.number)
            )
        )


def test_jobs_run_in_order_each_from_the_previous_version(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: a model with three queued chunks
    model_id = create_model(sessions, store, BODY)
    chunks = class_incremental_chunks(3)
    job_ids = [add_chunk(sessions, store, model_id, c) for c in chunks]

    # when: one worker processes the model
    assert runner(sessions, store).process_model(model_id)

    # then: versions 1..3 from jobs 1..3, with base versions 0..2 and growing accuracy rows
    published = versions(sessions, model_id)
    assert [v.number for v in published] == [0, 1, 2, 3]
    assert [v.job_id for v in published[1:]] == job_ids
    for n, job_id in enumerate(job_ids, start=1):
        done = job(sessions, job_id)
        assert (done.status, done.base_version, done.result_version) == ("succeeded", n - 1, n)
        assert done.progress == 1.0
        assert len(done.metrics["accuracy"]) == n
    # and: the lease is released, and the weights are those of an uninterrupted run
    with sessions() as session:
        assert session.get(Model, model_id).lease_owner is None  # type: ignore[union-attr]
    served = load_model(store, published[-1].prefix, _arch(), torch.device("cpu"))
    for name, tensor in uninterrupted_run(BODY, chunks).items():
        assert torch.equal(served.state_dict()[name], tensor), name


def test_a_busy_model_is_left_to_the_lease_holder(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: another worker holds the model's lease
    model_id = create_model(sessions, store, BODY)
    job_id = add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])
    with sessions.begin() as session:
        assert lease.try_acquire(session=session, model_id=model_id, owner="other", seconds=60)
    # when / then: this worker declines, and the job is untouched
    assert not runner(sessions, store).process_model(model_id)
    assert job(sessions, job_id).status == JobStatus.queued


def test_a_worker_without_the_lease_never_publishes(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: the lease belongs to another worker (ours expired and was taken over)
    model_id = create_model(sessions, store, BODY)
    job_id = add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])
    with sessions.begin() as session:
        lease.try_acquire(session=session, model_id=model_id, owner="new-owner", seconds=60)
    # when: a stale worker still tries to run the job
    with pytest.raises(LeaseLost):
        runner(sessions, store, owner="stale").run_job(job_id)
    # then: no version beyond 0, and no objects of a new version were left behind
    assert [v.number for v in versions(sessions, model_id)] == [0]
    assert not [k for k in store.list(f"models/{model_id}/versions") if "/000001-" in k]


def test_an_unreadable_chunk_fails_its_job_and_the_queue_moves_on(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: a corrupt stored chunk followed by a good one
    model_id = create_model(sessions, store, BODY)
    bad = add_chunk(sessions, store, model_id, b"not an npz file")
    good = add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])
    # when
    runner(sessions, store).process_model(model_id)
    # then: the bad job failed with a reason; the good one became version 1 from version 0
    failed = job(sessions, bad)
    assert failed.status == JobStatus.failed and "invalid chunk" in (failed.error or "")
    assert failed.finished_at is not None
    ok = job(sessions, good)
    assert (ok.status, ok.base_version, ok.result_version) == ("succeeded", 0, 1)


def test_an_infrastructure_fault_is_retried_then_fails_the_job(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: a job whose chunk object has vanished from storage
    model_id = create_model(sessions, store, BODY)
    job_id = add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])
    for key in store.list(f"models/{model_id}/chunks"):
        store.delete(key)
    worker = runner(sessions, store)
    # when: each attempt raises (Celery would retry it), the job goes back to the queue
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with pytest.raises(FileNotFoundError):
            worker.process_model(model_id)
        state = job(sessions, job_id)
        expected = JobStatus.queued if attempt < MAX_ATTEMPTS else JobStatus.failed
        assert (state.attempts, state.status) == (attempt, expected)
    # then: after the last attempt it is failed with the error, and nothing was published
    assert "FileNotFoundError" in (job(sessions, job_id).error or "")
    assert [v.number for v in versions(sessions, model_id)] == [0]


def _arch():  # type: ignore[no-untyped-def]
    from app.architectures import validate_architecture

    return validate_architecture(BODY["architecture"])


def test_a_diverged_update_is_never_published(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: a learning rate at which plain SGD blows up
    body = model_body("diverge", {"name": "naive", "params": {}}, epochs=3)
    body["training"]["lr"] = 10.0
    model_id = create_model(sessions, store, body)
    chunk = class_incremental_chunks(1)[0]
    chunk.x *= 1e6
    job_id = add_chunk(sessions, store, model_id, chunk)
    # when
    runner(sessions, store).process_model(model_id)
    # then: the job failed saying why, and the model stays at version 0
    failed = job(sessions, job_id)
    assert failed.status == JobStatus.failed and "diverged" in (failed.error or "")
    assert [v.number for v in versions(sessions, model_id)] == [0]


def test_later_jobs_evaluate_from_the_eval_splits_alone(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: chunk 1 applied, then its (large) chunk object gone from storage
    model_id = create_model(sessions, store, BODY)
    chunks = class_incremental_chunks(2)
    first = add_chunk(sessions, store, model_id, chunks[0])
    runner(sessions, store).process_model(model_id)
    for key in store.list(f"models/{model_id}/chunks"):
        store.delete(key)
    second = add_chunk(sessions, store, model_id, chunks[1])

    # when: the second job runs
    runner(sessions, store).process_model(model_id)

    # then: it evaluated on chunk 1's eval split (kept on its own) without the chunk itself,
    # and the accuracy it reports for chunk 1 is that of the published weights
    done = job(sessions, second)
    assert done.status == JobStatus.succeeded, done.error
    assert len(done.metrics["accuracy"]) == 2
    assert done.metrics["chunk_ids"][0] == job(sessions, first).chunk_id
    model = load_model(store, versions(sessions, model_id)[-1].prefix, _arch(), torch.device("cpu"))
    with torch.no_grad():
        predicted = model(torch.from_numpy(chunks[0].x_eval)).argmax(dim=1).numpy()
    assert done.metrics["accuracy"][0] == float((predicted == chunks[0].y_eval).mean())


def test_a_saved_state_that_does_not_fit_is_reset_and_says_so(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: version 1 made with memory_size 20, then a job asking for memory_size 30
    model_id = create_model(sessions, store, BODY)
    chunks = class_incremental_chunks(2)
    first = add_chunk(sessions, store, model_id, chunks[0])
    resized = {"name": "er", "params": {"memory_size": 30}}
    second = add_chunk(sessions, store, model_id, chunks[1], updater=resized)

    # when
    runner(sessions, store).process_model(model_id)

    # then: the first job kept no state to reset; the second started a fresh memory
    assert job(sessions, first).metrics["state_reset"] is False
    done = job(sessions, second)
    assert (done.status, done.result_version) == (JobStatus.succeeded, 2)
    assert done.metrics["state_reset"] is True


def test_a_corrupt_saved_state_is_a_fault_not_a_silent_reset(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: version 1 whose saved reservoir counters no longer match its tensors
    model_id = create_model(sessions, store, BODY)
    chunks = class_incremental_chunks(2)
    add_chunk(sessions, store, model_id, chunks[0])
    runner(sessions, store).process_model(model_id)
    key = f"{versions(sessions, model_id)[1].prefix}/{STATE_META_FILE}"
    saved = json.loads(store.get_bytes(key))
    saved["state"]["buffer"]["seen"] = 5
    store.put_bytes(json.dumps(saved).encode(), key)
    second = add_chunk(sessions, store, model_id, chunks[1])

    # when / then: the attempt fails loudly and the job goes back to the queue
    with pytest.raises(ValueError, match="rows"):
        runner(sessions, store).process_model(model_id)
    state = job(sessions, second)
    assert (state.status, state.attempts) == (JobStatus.queued, 1)
    assert [v.number for v in versions(sessions, model_id)] == [0, 1]
