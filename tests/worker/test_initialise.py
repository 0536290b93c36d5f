"""Version 0 made by the worker: the model's first job, from the architecture's seeded
initialisation or from uploaded weights; weights that do not fit fail the model, with the
tensor and both shapes named, and its chunks' jobs with it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import validate_architecture
from app.db.models import Job, JobKind, JobStatus, Model, ModelStatus, ModelVersion
from app.storage import PT2_FILE, STATE_META_FILE, ObjectStore
from tests.e2e.data import class_incremental_chunks, model_body
from tests.worker.factories import add_chunk, announced_here, create_model
from worker.architectures import build_model, initial_model
from worker.job_runner import MAX_ATTEMPTS, JobRunner

BODY = model_body("v0", {"name": "naive", "params": {}}, epochs=1)
TOY = {"name": "toy", "params": {"input_shape": [8], "num_classes": 6, "hidden": 5}}


def runner(sessions: sessionmaker[Session], store: ObjectStore) -> JobRunner:
    return JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner="w1")


def model_row(sessions: sessionmaker[Session], model_id: str) -> Model:
    with sessions() as session:
        model = session.get(Model, model_id)
        assert model is not None
        return model


def jobs_of(sessions: sessionmaker[Session], model_id: str) -> list[Job]:
    with sessions() as session:
        return list(session.scalars(select(Job).where(Job.model_id == model_id).order_by(Job.seq)))


def version_numbers(sessions: sessionmaker[Session], model_id: str) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(
                select(ModelVersion.number)
                .where(ModelVersion.model_id == model_id)
                .order_by(ModelVersion.number)
            )
        )


def prefix_of_v0(sessions: sessionmaker[Session], model_id: str) -> str:
    with sessions() as session:
        version = session.get(ModelVersion, (model_id, 0))
        assert version is not None
        return version.prefix


def test_the_first_job_makes_version_0_then_the_queued_chunks_run(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> None:
    # given: a registered model (initialising) with a chunk pushed before version 0 exists
    model_id = create_model(sessions, store, BODY, initialise=False)
    chunk_job = add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])
    assert model_row(sessions, model_id).status == ModelStatus.initialising

    # when
    runner(sessions, store).process_model(model_id)

    # then: version 0 (the seeded initialisation, no updater state, a pt2) and then version 1
    assert model_row(sessions, model_id).status == ModelStatus.ready
    jobs = jobs_of(sessions, model_id)
    assert [(j.kind, j.status, j.result_version) for j in jobs] == [
        (JobKind.initialise, JobStatus.succeeded, 0),
        (JobKind.update, JobStatus.succeeded, 1),
    ]
    assert jobs[1].id == chunk_job and jobs[1].base_version == 0
    assert version_numbers(sessions, model_id) == [0, 1]
    prefix = prefix_of_v0(sessions, model_id)
    store.get_file(f"{prefix}/model.safetensors", tmp_path / "v0.safetensors")
    served = load_file(str(tmp_path / "v0.safetensors"))
    expected = initial_model(validate_architecture(BODY["architecture"]), 7).state_dict()
    assert all(torch.equal(served[k], v) for k, v in expected.items())
    assert store.exists(f"{prefix}/{PT2_FILE}")
    assert not store.exists(f"{prefix}/{STATE_META_FILE}")


@pytest.mark.parametrize(
    "architecture",
    [
        {"name": "cnn", "params": {"input_shape": [1, 8, 8], "num_classes": 3, "channels": [2]}},
        {"name": "resnet18", "params": {"input_shape": [3, 8, 8], "num_classes": 3, "width": 2}},
    ],
)
def test_uploaded_weights_become_version_0_exactly(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path, architecture: dict
) -> None:
    # given: weights unlike the seeded ones (BatchNorm statistics included; variances > 0)
    spec = validate_architecture(architecture)
    state = build_model(spec).state_dict()
    uploaded = {k: (torch.rand_like(v.float()) + 0.5).to(v.dtype) for k, v in state.items()}
    save_file(uploaded, str(tmp_path / "w.safetensors"))
    body = model_body("pre", {"name": "naive", "params": {}}) | {"architecture": architecture}

    # when
    model_id = create_model(sessions, store, body, weights=tmp_path / "w.safetensors")

    # then: version 0 holds those tensors bit for bit, and its program runs them
    assert model_row(sessions, model_id).status == ModelStatus.ready
    prefix = prefix_of_v0(sessions, model_id)
    store.get_file(f"{prefix}/model.safetensors", tmp_path / "v0.safetensors")
    served = load_file(str(tmp_path / "v0.safetensors"))
    assert served.keys() == uploaded.keys()
    for name, tensor in uploaded.items():
        assert served[name].numpy().tobytes() == tensor.numpy().tobytes(), name
    store.get_file(f"{prefix}/{PT2_FILE}", tmp_path / "v0.pt2")
    program = torch.export.load(str(tmp_path / "v0.pt2")).module()
    module = build_model(spec)
    module.load_state_dict(served)
    module.eval()
    x = torch.rand(3, *spec.params["input_shape"])
    with torch.no_grad():
        assert torch.allclose(program(x), module(x), rtol=1e-5, atol=1e-6)


def toy_installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == "toy" for ep in entry_points(group="relearn.architectures"))


needs_toy = pytest.mark.skipif(
    not toy_installed(), reason="the test plugin is not installed (run `make test`)"
)


@needs_toy
@pytest.mark.parametrize(
    ("change", "phrases"),
    [
        ("missing", ["'head.bias' is missing", "expected shape [6]", "got none"]),
        ("extra", ["'head.scale' is not in the architecture", "got shape [2]"]),
        ("shape", ["'body.1.weight' has the wrong shape", "expected [5, 8]", "got [4, 8]"]),
    ],
)
def test_weights_that_do_not_fit_fail_the_model_naming_the_tensor(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    tmp_path: Path,
    change: str,
    phrases: list[str],
) -> None:
    # given: an entry-point architecture (only a worker can check its weights), weights
    # that do not fit it, and a chunk queued behind
    good = build_model(validate_architecture(TOY, announced_here())).state_dict()
    weights = dict(good)
    if change == "missing":
        del weights["head.bias"]
    elif change == "extra":
        weights["head.scale"] = torch.ones(2)
    else:
        weights["body.1.weight"] = torch.zeros(4, 8)
    save_file(weights, str(tmp_path / "w.safetensors"))
    body = BODY | {"architecture": TOY}
    model_id = create_model(
        sessions, store, body, weights=tmp_path / "w.safetensors", initialise=False
    )
    chunk_job = add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])

    # when
    runner(sessions, store).process_model(model_id)

    # then: the model failed saying which tensor and both shapes; no version exists; the
    # chunk's job failed too, saying why
    model = model_row(sessions, model_id)
    assert model.status == ModelStatus.failed
    for phrase in phrases:
        assert phrase in (model.error or "")
    assert version_numbers(sessions, model_id) == []
    chunk = next(j for j in jobs_of(sessions, model_id) if j.id == chunk_job)
    assert chunk.status == JobStatus.failed
    assert "no version 0" in (chunk.error or "") and phrases[0] in (chunk.error or "")


def test_a_passing_fault_retries_the_initialisation_then_fails_the_model(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> None:
    # given: uploaded weights whose object has vanished from storage
    spec = validate_architecture(BODY["architecture"])
    save_file(build_model(spec).state_dict(), str(tmp_path / "w.safetensors"))
    model_id = create_model(
        sessions, store, BODY, weights=tmp_path / "w.safetensors", initialise=False
    )
    store.delete(model_row(sessions, model_id).initial_weights_key or "")
    worker = runner(sessions, store)

    # when: every attempt raises (Celery would retry it)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with pytest.raises(FileNotFoundError):
            worker.process_model(model_id)
        expected = ModelStatus.initialising if attempt < MAX_ATTEMPTS else ModelStatus.failed
        assert model_row(sessions, model_id).status == expected

    # then
    assert "FileNotFoundError" in (model_row(sessions, model_id).error or "")
    assert version_numbers(sessions, model_id) == []
