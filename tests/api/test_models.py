"""Registering models: defaults, an initialise job first in the queue (a worker makes
version 0), every built-in architecture's params, 422s."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from sqlalchemy import select

from app.architectures import validate_architecture
from app.db.models import Chunk, Job, Model, ModelVersion
from tests.api.harness import Api
from tests.api.initialised import make_version_zero
from tests.api.jobs_helpers import post_chunk
from tests.api.payloads import INPUT_DIM, NUM_CLASSES, chunk_arrays, model_body, npz_bytes
from worker.architectures import initial_model

CNN = {"name": "cnn", "params": {"input_shape": [1, 8, 8], "num_classes": 3, "channels": [4]}}
RESNET = {"name": "resnet18", "params": {"num_classes": 5, "width": 2}}


def artifact(api: Api, model_id: str, ref: str = "0") -> tuple[dict, dict[str, str]]:
    response = api.client.get(f"/v1/models/{model_id}/versions/{ref}/artifact")
    assert response.status_code == 200, response.text
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        path.write_bytes(response.content)
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
        return load_file(str(path)), metadata


def test_create_fills_every_default_and_queues_the_initialise_job(api: Api) -> None:
    # given: a body with only the architecture's required params
    body = {"architecture": {"name": "mlp", "params": {"input_dim": 5, "num_classes": 4}}}
    messages_before = api.broker_messages()

    # when
    response = api.client.post("/v1/models", json=body)

    # then: 201 with every default filled in, initialising
    assert response.status_code == 201, response.text
    model = response.json()
    assert (model["latest_version"], model["status"], model["error"]) == (0, "initialising", None)
    assert model["name"] == "model"
    assert model["architecture"] == {
        "name": "mlp",
        "params": {"input_dim": 5, "hidden": [256, 256], "num_classes": 4},
    }
    assert model["updater"]["name"] == "er"
    assert model["updater"]["params"].items() >= {"memory_size": 500}.items()
    assert model["training"]["optimizer"] == "sgd"
    assert set(model["training"]) >= {"epochs", "batch_size", "lr", "optimizer", "seed"}
    assert model["created_at"]
    # and: the model row, its initialise job first in the queue, no version yet, and a
    # worker nudged
    assert api.count(Model, id=model["id"]) == 1
    with api.sessions() as session:
        jobs = list(session.scalars(select(Job).where(Job.model_id == model["id"])))
    assert [(j.kind, j.seq, j.chunk_id, j.status) for j in jobs] == [
        ("initialise", 0, None, "queued")
    ]
    assert api.count(ModelVersion, model_id=model["id"]) == 0
    assert api.broker_messages() == messages_before + 1
    # and: the model reads back the same, and is listed
    assert api.client.get(f"/v1/models/{model['id']}").json() == model
    listed = api.client.get("/v1/models").json()["items"]
    assert [m["id"] for m in listed] == [model["id"]]


@pytest.mark.parametrize("architecture", [model_body()["architecture"], CNN, RESNET])
def test_version_0_is_the_architectures_seeded_initialisation(api: Api, architecture: dict) -> None:
    # given: a registered model
    model = api.create_model(architecture=architecture, training={"seed": 11})

    # when: a worker has run its initialise job
    make_version_zero(api, model["id"])

    # then: the model is ready, and version 0 is the module as its constructor initialises
    # it from the seed, tagged with the architecture
    ready = api.client.get(f"/v1/models/{model['id']}").json()
    assert (ready["status"], ready["error"], ready["latest_version"]) == ("ready", None, 0)
    served, metadata = artifact(api, model["id"])
    expected = initial_model(validate_architecture(model["architecture"]), 11).state_dict()
    assert served.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(served[name], tensor), name
    assert json.loads(metadata["relearn.architecture"]) == model["architecture"]
    assert (metadata["relearn.model_id"], metadata["relearn.version"]) == (model["id"], "0")
    version = api.client.get(f"/v1/models/{model['id']}/versions/0").json()
    assert version["job_id"] is None and version["chunk_id"] is None
    assert version["pt2_sha256"] is not None
    assert version["metrics"]["initialisation"] == {"weights": "seeded", "seed": 11}


def test_different_seeds_give_different_version_0(api: Api) -> None:
    # given / when
    a = api.create_model(training={"seed": 1})
    b = api.create_model(training={"seed": 2})
    for m in (a, b):
        make_version_zero(api, m["id"])

    # then
    sha = [
        api.client.get(f"/v1/models/{m['id']}/versions/0").json()["artifact_sha256"] for m in (a, b)
    ]
    assert sha[0] != sha[1]


def test_cnn_and_resnet18_defaults_are_filled_in(api: Api) -> None:
    # when
    cnn = api.create_model(
        architecture={"name": "cnn", "params": {"input_shape": [3, 32, 32], "num_classes": 10}}
    )
    resnet = api.create_model(architecture={"name": "resnet18", "params": {"num_classes": 10}})

    # then: the params as the worker will build them
    assert cnn["architecture"]["params"] == {
        "input_shape": [3, 32, 32],
        "num_classes": 10,
        "channels": [32, 64],
        "hidden": 256,
    }
    assert resnet["architecture"]["params"] == {
        "input_shape": [3, 32, 32],
        "num_classes": 10,
        "width": 64,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (model_body(updater={"name": "sgd-magic"}), "updater.name"),
        (model_body(updater={"name": "der", "params": {"alpha": -1}}), "updater.params.alpha"),
        (
            model_body(updater={"name": "er", "params": {"memory_sise": 10}}),
            "updater.params.memory_sise",
        ),
        (model_body(architecture={"name": "transformer", "params": {}}), "architecture.name"),
        (
            model_body(architecture={"name": "mlp", "params": {"num_classes": 3}}),
            "architecture.params.input_dim",
        ),
        (
            model_body(
                architecture={
                    "name": "mlp",
                    "params": {"input_dim": 4, "num_classes": 3, "hidden": [0]},
                }
            ),
            "architecture.params.hidden.0",
        ),
        (
            model_body(architecture={"name": "cnn", "params": {"num_classes": 3}}),
            "architecture.params.input_shape",
        ),
        (
            model_body(
                architecture={"name": "cnn", "params": {"input_shape": [28, 28], "num_classes": 3}}
            ),
            "architecture.params.input_shape",
        ),
        (
            model_body(
                architecture={
                    "name": "cnn",
                    "params": {"input_shape": [1, 4, 4], "num_classes": 3, "channels": [8, 8, 8]},
                }
            ),
            "architecture.params",
        ),
        (
            model_body(
                architecture={
                    "name": "cnn",
                    "params": {"input_shape": [1, 8, 8], "num_classes": 3, "hidden": [4]},
                }
            ),
            "architecture.params.hidden",
        ),
        (
            model_body(architecture={"name": "resnet18", "params": {"num_classes": 3, "width": 0}}),
            "architecture.params.width",
        ),
        (
            model_body(architecture={"name": "resnet18", "params": {"num_classes": 1}}),
            "architecture.params.num_classes",
        ),
        (model_body(training={"optimizer": "lbfgs"}), "training.optimizer"),
        (model_body(training={"lr": 0}), "training.lr"),
        (model_body(training={"epochs": 2, "colour": "red"}), "training.colour"),
        (model_body(name=""), "name"),
        (model_body(name="x" * 201), "name"),
        (model_body(name="tab\there"), "name"),
        (model_body(extra=1), "extra"),
        ([1, 2], "body"),
    ],
)
def test_bad_model_bodies_are_422_problems_naming_the_field(
    api: Api, body: dict, field: str
) -> None:
    # when
    response = api.client.post("/v1/models", json=body)

    # then: a problem+json naming the field, and nothing was created
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["field"] == field
    assert field in problem["detail"]
    assert problem["errors"][0]["field"] == field
    assert api.count(Model) == 0
    assert api.objects() == []


def test_an_unknown_architecture_is_refused_listing_the_known_ones(api: Api) -> None:
    # when
    response = api.client.post("/v1/models", json=model_body(architecture={"name": "vit"}))

    # then
    assert response.status_code == 422
    assert "known: ['cnn', 'mlp', 'resnet18']" in response.json()["detail"]


def test_non_finite_hyperparameters_are_refused(api: Api) -> None:
    # given: JSON that Python's parser accepts, with an infinite alpha (alpha has only ge=0)
    raw = json.dumps(model_body(updater={"name": "der", "params": {"alpha": 1e400}}))
    assert "Infinity" in raw

    # when
    response = api.client.post(
        "/v1/models", content=raw, headers={"content-type": "application/json"}
    )

    # then
    assert response.status_code == 422
    assert response.json()["field"] == "updater.params.alpha"
    assert api.count(Model) == 0


@pytest.mark.parametrize(
    "architecture",
    [
        {"name": "mlp", "params": {"input_dim": 1_000_000, "num_classes": 1_000_000}},
        {"name": "resnet18", "params": {"num_classes": 10, "width": 512}},
        {"name": "cnn", "params": {"input_shape": [3, 1024, 1024], "num_classes": 10}},
    ],
)
def test_a_model_too_large_for_a_worker_is_refused(api: Api, architecture: dict) -> None:
    # given: far more than 50M parameters (the mlp ~0.5G; resnet18 width 512 ~0.7G; the
    # cnn's hidden layer sees 64×512×512 features)
    body = model_body(architecture=architecture)

    # when
    response = api.client.post("/v1/models", json=body)

    # then
    assert response.status_code == 422
    assert response.json()["field"] == "architecture.params"
    assert "parameters" in response.json()["detail"]


def test_malformed_json_is_a_422_problem(api: Api) -> None:
    # when
    response = api.client.post(
        "/v1/models", content=b'{"name": ', headers={"content-type": "application/json"}
    )

    # then
    assert response.status_code == 422
    assert response.json()["field"] == "body"


def test_another_media_type_is_a_415_problem(api: Api) -> None:
    # when
    response = api.client.post(
        "/v1/models", content=b"name=x", headers={"content-type": "text/plain"}
    )

    # then
    assert response.status_code == 415
    assert api.count(Model) == 0


def test_unknown_model_is_a_404_problem(api: Api) -> None:
    # when
    response = api.client.get("/v1/models/" + "0" * 32)

    # then
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_input_dim_and_num_classes_shape_the_weights(api: Api) -> None:
    # given
    model = api.create_model()
    make_version_zero(api, model["id"])

    # when
    weights, _ = artifact(api, model["id"], "latest")

    # then: first layer (8, INPUT_DIM), last layer (NUM_CLASSES, 8)
    assert weights["layers.0.weight"].shape == (8, INPUT_DIM)
    assert weights["layers.2.weight"].shape == (NUM_CLASSES, 8)


def test_a_failed_model_refuses_chunks_with_409(api: Api) -> None:
    # given: a model whose version 0 could not be made (as a worker marks it)
    model = api.create_model()
    with api.sessions.begin() as session:
        row = session.get(Model, model["id"])
        assert row is not None
        row.status, row.error = "failed", "weights do not fit the architecture: ..."

    # when
    response = post_chunk(api, model["id"], npz_bytes(chunk_arrays()))

    # then: 409 saying why, and no chunk recorded
    assert response.status_code == 409, response.text
    assert "weights do not fit" in response.json()["detail"]
    assert api.client.get(f"/v1/models/{model['id']}").json()["status"] == "failed"
    assert api.count(Chunk) == 0
