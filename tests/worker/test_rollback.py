"""Rollback on real training: the version it publishes holds the source's weights and
updater state (replay memory, RNG) byte for byte, so the next chunk trains exactly as it
would have from the source itself. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models import Job, ModelVersion
from app.queue import TaskQueue, make_celery
from app.services.rollback import request_rollback
from app.storage import MODEL_FILE, STATE_FILE, STATE_META_FILE, ObjectStore
from tests.e2e.data import class_incremental_chunks, model_body
from tests.worker.factories import add_chunk, create_model
from worker.job_runner import JobRunner

BODY = model_body("rolled", {"name": "er", "params": {"memory_size": 30}})


def run(sessions: sessionmaker[Session], store: ObjectStore, model_id: str) -> None:
    JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner="w").process_model(
        model_id
    )


def version(sessions: sessionmaker[Session], model_id: str, number: int) -> ModelVersion:
    with sessions() as session:
        return session.get_one(ModelVersion, (model_id, number))


def tensors(store: ObjectStore, key: str, tmp_path: Path) -> dict[str, torch.Tensor]:
    local = tmp_path / key.replace("/", "_")
    local.parent.mkdir(parents=True, exist_ok=True)
    store.get_file(key, local)
    return load_file(str(local))


def test_the_next_chunk_after_a_rollback_trains_as_from_the_source_version(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> None:
    # given: chunks A, B applied (versions 1, 2) on one model; A, C on a twin (same seed)
    a, b, c = class_incremental_chunks(3)
    rolled = create_model(sessions, store, {**BODY, "name": "rolled"})
    twin = create_model(sessions, store, {**BODY, "name": "twin"})
    for model_id, chunks in ((rolled, (a, b)), (twin, (a, c))):
        for chunk in chunks:
            add_chunk(sessions, store, model_id, chunk)
        run(sessions, store, model_id)
    settings = Settings(
        home=tmp_path / "home", database_url=None, storage_url=None, broker_url=None
    )
    tasks = TaskQueue(settings=settings, celery=make_celery(settings))

    # when: the first model rolls back to version 1, then applies C
    with sessions() as session:
        job_id = request_rollback(session=session, tasks=tasks, model_id=rolled, version=1).id
    add_chunk(sessions, store, rolled, c)
    run(sessions, store, rolled)

    # then: version 3 is version 1's objects byte for byte, parent 1
    source, copy = version(sessions, rolled, 1), version(sessions, rolled, 3)
    assert (copy.parent, copy.chunk_id, copy.job_id) == (1, None, job_id)
    for name in (MODEL_FILE, STATE_FILE, STATE_META_FILE):
        assert store.get_bytes(f"{copy.prefix}/{name}") == store.get_bytes(
            f"{source.prefix}/{name}"
        )
    assert copy.storage_bytes > 0
    # and: C from version 3 gives what C from the twin's version 1 gave: same weights, same
    # updater state (the replay memory holds A's samples, not B's)
    after, expected = version(sessions, rolled, 4), version(sessions, twin, 2)
    assert after.parent == 3
    for name in (MODEL_FILE, STATE_FILE):
        got = tensors(store, f"{after.prefix}/{name}", tmp_path)
        want = tensors(store, f"{expected.prefix}/{name}", tmp_path / "twin")
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in got)
    assert after.metrics["accuracy"] == expected.metrics["accuracy"]
    with sessions() as session:
        job = session.get_one(Job, job_id)
        assert (job.status, job.result_version, job.seq) == ("succeeded", 3, 3)
