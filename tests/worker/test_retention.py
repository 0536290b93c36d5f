"""Retention on real training: applied chunks beyond the newest K lose their raw object but
not their eval split (later metrics stay exact), versions beyond the newest K lose their
objects unless something still needs them, the model's byte counter follows what is
stored, and a crash half way is finished by the next round. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Chunk, Job, JobKind, Model, ModelVersion
from app.errors import Gone
from app.services.queue_place import next_queue_place
from app.services.versions import get_version
from app.storage import ObjectStore, eval_split_key
from tests.e2e.data import class_incremental_chunks, model_body
from tests.worker.factories import add_chunk, create_model
from worker.job_runner import JobRunner
from worker.retention import RetentionStore, prune_model

BODY = model_body("kept", {"name": "er", "params": {"memory_size": 30}})


def run(sessions: sessionmaker[Session], store: ObjectStore, model_id: str) -> None:
    JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner="w").process_model(
        model_id
    )


def prune(sessions: sessionmaker[Session], store: ObjectStore, model_id: str) -> None:
    assert (
        prune_model(sessions, store, model_id=model_id, owner="retention-test", lease_seconds=60)
        is not None
    )


def with_chunks(
    sessions: sessionmaker[Session], store: ObjectStore, name: str, count: int, **retention: int
) -> str:
    model_id = create_model(sessions, store, {**BODY, "name": name})
    with sessions.begin() as session:  # as POST /v1/models stores the policy
        session.get_one(Model, model_id).retention = retention or None
    for chunk in class_incremental_chunks(count):
        add_chunk(sessions, store, model_id, chunk)
    run(sessions, store, model_id)
    return model_id


def stored_bytes(store: ObjectStore, model_id: str) -> int:
    """The bytes really stored for the model, less the eval splits (not counted)."""
    keys = [k for k in store.list(f"models/{model_id}") if "/eval/" not in k]
    return sum(store.size(k) for k in keys)


def counter(sessions: sessionmaker[Session], model_id: str) -> int:
    with sessions() as session:
        return session.get_one(Model, model_id).storage_bytes


def test_keep_chunks_removes_old_raw_chunks_and_later_metrics_stay_exact(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: three chunks applied on a model keeping one, and on a twin keeping all
    kept = with_chunks(sessions, store, "kept", 3, keep_chunks=1)
    twin = with_chunks(sessions, store, "twin", 3)
    assert counter(sessions, kept) == stored_bytes(store, kept)

    # when: retention runs, then a fourth chunk is applied to both
    prune(sessions, store, kept)
    fourth = class_incremental_chunks(4)[3]
    for model_id in (kept, twin):
        add_chunk(sessions, store, model_id, fourth)
        run(sessions, store, model_id)
    prune(sessions, store, kept)

    # then: only the newest applied chunk keeps its raw object; every eval split stays
    with sessions() as session:
        chunks = sorted(session.query(Chunk).filter_by(model_id=kept), key=lambda c: c.seq)
        assert [c.pruned_at is not None for c in chunks] == [True, True, True, False]
        assert [store.exists(c.object_key) for c in chunks] == [False, False, False, True]
        assert all(store.exists(eval_split_key(kept, c.id)) for c in chunks)
        # and: the fourth update measured every earlier chunk exactly as the twin did
        ours = session.get_one(ModelVersion, (kept, 4)).metrics["accuracy"]
        theirs = session.get_one(ModelVersion, (twin, 4)).metrics["accuracy"]
        assert ours == theirs and len(ours) == 4
    # and: the counter is what is stored
    assert counter(sessions, kept) == stored_bytes(store, kept)
    assert counter(sessions, kept) < counter(sessions, twin)


def test_keep_versions_keeps_the_newest_the_aliased_and_a_pending_rollbacks_source(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: versions 0..4, production at 1, a rollback to 0 queued, keep_versions 2
    model_id = with_chunks(sessions, store, "versions", 4, keep_versions=2)
    with sessions.begin() as session:
        from app.services.aliases import point_alias

        point_alias(session, model_id=model_id, name="production", version=1)
        model = session.get_one(Model, model_id)
        model.job_count += 1
        session.add(
            Job(
                model_id=model_id,
                kind=JobKind.rollback,
                seq=model.job_count,
                source_version=0,
                updater=model.updater,
            )
        )

    # when
    prune(sessions, store, model_id)

    # then: only version 2 went (3, 4 newest; 1 aliased; 0 a rollback's source)
    def pruned() -> list[int]:
        with sessions() as session:
            rows = session.query(ModelVersion).filter_by(model_id=model_id)
            return sorted(v.number for v in rows if v.pruned_at is not None)

    assert pruned() == [2]
    with sessions() as session:
        with pytest.raises(Gone):
            get_version(session=session, model_id=model_id, ref="2")
        assert not store.list(session.get_one(ModelVersion, (model_id, 2)).prefix)
    assert counter(sessions, model_id) == stored_bytes(store, model_id)

    # and: the rollback still runs (version 5 = version 0), and the next round prunes 0, 3
    run(sessions, store, model_id)
    prune(sessions, store, model_id)
    assert pruned() == [0, 2, 3]
    with sessions() as session:
        assert session.get_one(ModelVersion, (model_id, 5)).parent == 0
    assert counter(sessions, model_id) == stored_bytes(store, model_id)


def test_a_crash_half_way_is_finished_by_the_next_round(
    sessions: sessionmaker[Session], store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a model keeping one chunk and one version, and a sweeper that dies after
    # deleting the first chunk object and after marking the versions
    model_id = with_chunks(sessions, store, "crashy", 2, keep_chunks=1, keep_versions=1)
    mark_chunk, purged = RetentionStore.mark_chunk, RetentionStore.purged

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(RetentionStore, "mark_chunk", crash)
    with pytest.raises(RuntimeError):
        prune(sessions, store, model_id)
    monkeypatch.setattr(RetentionStore, "mark_chunk", mark_chunk)
    monkeypatch.setattr(RetentionStore, "purged", crash)
    with pytest.raises(RuntimeError):
        prune(sessions, store, model_id)

    # when: the next round runs normally
    monkeypatch.setattr(RetentionStore, "purged", purged)
    prune(sessions, store, model_id)

    # then: everything retention removes is gone, marked once, and counted once
    with sessions() as session:
        versions = session.query(ModelVersion).filter_by(model_id=model_id)
        assert sorted(v.number for v in versions if v.pruned_at is None) == [2]
        assert all(v.storage_bytes == 0 for v in versions if v.pruned_at is not None)
    assert store.list(f"models/{model_id}/versions") == sorted(
        k for k in store.list(f"models/{model_id}/versions") if "/000002-" in k
    )
    assert counter(sessions, model_id) == stored_bytes(store, model_id)


def test_a_model_whose_lease_is_held_is_left_for_the_next_round(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> None:
    # given
    model_id = with_chunks(sessions, store, "busy", 2, keep_versions=1)
    runner = JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner="busy")
    assert runner.jobs.take_lease(model_id=model_id, owner="busy", seconds=60)
    # when
    answer = prune_model(
        sessions, store, model_id=model_id, owner="retention-test", lease_seconds=60
    )
    # then
    assert answer is None
    with sessions() as session:
        assert all(
            v.pruned_at is None for v in session.query(ModelVersion).filter_by(model_id=model_id)
        )


def test_a_rollback_asked_for_while_retention_marks_keeps_its_source(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: a model keeping one version, and a rollback request to version 0 that holds
    # its queue place (the model row's lock), not yet committed
    model_id = with_chunks(sessions, store, "raced", 1, keep_versions=1)
    request = sessions()
    request.begin()
    place = next_queue_place(request, model_id)
    request.add(
        Job(
            model_id=model_id,
            kind=JobKind.rollback,
            seq=place,
            source_version=0,
            updater=request.get_one(Model, model_id).updater,
        )
    )
    request.flush()

    # when: the retention sweep marks meanwhile, and the request commits
    retention = RetentionStore(sessions)
    sweep = threading.Thread(
        target=lambda: retention.mark_versions(model_id=model_id, keep=1), daemon=True
    )
    sweep.start()
    sweep.join(timeout=0.5)
    waited = sweep.is_alive()
    request.commit()
    request.close()
    sweep.join(timeout=30)

    # then: the sweep waited for the request and then kept the rollback's source
    assert waited
    with sessions() as session:
        assert session.get_one(ModelVersion, (model_id, 0)).pruned_at is None
