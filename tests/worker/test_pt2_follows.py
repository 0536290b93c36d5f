"""The ``.pt2`` program follows its version: published with the safetensors alone (the
download answers 409 + Retry-After), exported once the model's queue is drained, and
re-done through the reconciler when the worker died before exporting it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import validate_architecture
from app.db.models import Model, ModelVersion, utcnow
from app.errors import Conflict
from app.services.versions import get_artifact
from app.storage import ObjectStore
from tests.e2e.data import class_incremental_chunks, model_body
from tests.worker.factories import add_chunk, create_model
from worker.architectures import build_model
from worker.job_runner import JobRunner
from worker.job_store import JobStore
from worker.reconcile import resend_pending

BODY = model_body("pt2", {"name": "naive", "params": {}}, epochs=1)


def runner(sessions: sessionmaker[Session], store: ObjectStore, owner: str) -> JobRunner:
    return JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner=owner)


def published_without_program(sessions: sessionmaker[Session], store: ObjectStore) -> str:
    """A model whose version 1 was published by a worker that stopped right after (its
    lease never released, its program never exported)."""
    model_id = create_model(sessions, store, BODY)
    job_id = add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])
    dead = runner(sessions, store, "dead-worker")
    assert dead.jobs.take_lease(model_id=model_id, owner=dead.owner, seconds=60)
    dead.run_job(job_id)
    return model_id


def pt2_artifact(sessions: sessionmaker[Session], model_id: str, ref: str) -> str:
    with sessions() as session:
        return get_artifact(session=session, model_id=model_id, ref=ref, fmt="pt2").key


def assert_program_matches_weights(
    sessions: sessionmaker[Session], store: ObjectStore, model_id: str, tmp_path: Path
) -> None:
    with sessions() as session:
        version = session.get_one(ModelVersion, (model_id, 1))
    store.get_file(pt2_artifact(sessions, model_id, "1"), tmp_path / "m.pt2")
    store.get_file(f"{version.prefix}/model.safetensors", tmp_path / "m.safetensors")
    module = build_model(validate_architecture(BODY["architecture"]))
    module.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    x = torch.from_numpy(class_incremental_chunks(1)[0].x_eval)
    for n in (1, 7, len(x)):
        torch.testing.assert_close(program(x[:n]), module.eval()(x[:n]))


def test_the_version_is_published_first_and_its_program_follows(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> None:
    # given: version 1 published, its program not exported yet
    model_id = published_without_program(sessions, store)

    # then: the safetensors is served, the .pt2 answers 409 with a Retry-After
    with sessions() as session:
        assert get_artifact(session=session, model_id=model_id, ref="1", fmt="safetensors")
    with pytest.raises(Conflict) as pending:
        pt2_artifact(sessions, model_id, "1")
    assert pending.value.field == "format"
    assert int(pending.value.headers["Retry-After"]) >= 1

    # when: the worker holding the lease drains the model's queue (nothing left to train)
    assert runner(sessions, store, "dead-worker").process_model(model_id)

    # then: the program is recorded, and gives the safetensors weights' logits
    assert_program_matches_weights(sessions, store, model_id, tmp_path)


def test_a_lost_export_is_redone_through_the_reconciler(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> None:
    # given: a worker died after publishing version 1, before exporting its program
    model_id = published_without_program(sessions, store)
    jobs = JobStore(sessions)
    live = runner(sessions, store, "live-worker")

    # then: nothing is re-sent while the dead worker's lease lasts
    assert model_id not in resend_pending(jobs, live.process_model)

    # when: the lease has expired, the reconciler sends the model to a live worker
    with sessions.begin() as session:
        session.get_one(Model, model_id).lease_expires_at = utcnow() - timedelta(seconds=1)
    assert resend_pending(jobs, live.process_model) == [model_id]

    # then: the program is exported, and nothing more is re-sent
    assert_program_matches_weights(sessions, store, model_id, tmp_path)
    assert resend_pending(jobs, live.process_model) == []
