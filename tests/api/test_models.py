"""Registering models: defaults, version 0 written before the row is visible, 422s."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from app.architectures import initial_weights, validate_architecture
from app.db.models import Model, ModelVersion
from tests.api.harness import Api
from tests.api.payloads import INPUT_DIM, NUM_CLASSES, model_body


def test_create_fills_every_default_and_queues_the_v0_export(api: Api) -> None:
    # given: a body with only the architecture's required params
    body = {"architecture": {"name": "mlp", "params": {"input_dim": 5, "num_classes": 4}}}
    messages_before = api.broker_messages()

    # when
    response = api.client.post("/v1/models", json=body)

    # then: 201 with every default filled in
    assert response.status_code == 201, response.text
    model = response.json()
    assert model["latest_version"] == 0
    assert model["name"] == "model"
    assert model["architecture"] == {
        "name": "mlp",
        "params": {"input_dim": 5, "hidden": [256, 256], "num_classes": 4},
    }
    assert model["updater"] == {
        "name": "er",
        "params": {"memory_size": 500, "memory_batch_size": None, "memory_update": "after_fit"},
    }
    assert model["training"]["optimizer"] == "sgd"
    assert set(model["training"]) >= {"epochs", "batch_size", "lr", "optimizer", "seed"}
    assert model["created_at"]
    # and: one row with version 0, and the export of its pt2 sent to a worker
    assert api.count(Model, id=model["id"]) == 1
    assert api.count(ModelVersion, model_id=model["id"], number=0) == 1
    assert api.broker_messages() == messages_before + 1
    # and: the model reads back the same, and is listed
    assert api.client.get(f"/v1/models/{model['id']}").json() == model
    listed = api.client.get("/v1/models").json()["items"]
    assert [m["id"] for m in listed] == [model["id"]]


def test_version_0_is_the_seeded_initial_weights(api: Api) -> None:
    # given
    model = api.create_model(training={"seed": 11})

    # when: version 0's artifact is downloaded
    response = api.client.get(f"/v1/models/{model['id']}/versions/0/artifact")

    # then: safetensors.numpy loads it and it equals initial_weights(spec, seed)
    assert response.status_code == 200
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        path.write_bytes(response.content)
        served = load_file(str(path))
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata()
    expected = initial_weights(validate_architecture(model["architecture"]), 11)
    assert served.keys() == expected.keys()
    for name, array in expected.items():
        np.testing.assert_array_equal(served[name], array)
    assert json.loads(metadata["relearn.architecture"]) == model["architecture"]
    assert metadata["relearn.model_id"] == model["id"]
    assert metadata["relearn.version"] == "0"


def test_different_seeds_give_different_version_0(api: Api) -> None:
    # given / when
    a = api.create_model(training={"seed": 1})
    b = api.create_model(training={"seed": 2})

    # then
    sha = [
        api.client.get(f"/v1/models/{m['id']}/versions/0").json()["artifact_sha256"] for m in (a, b)
    ]
    assert sha[0] != sha[1]


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
            "architecture.params",
        ),
        (model_body(training={"optimizer": "lbfgs"}), "training.optimizer"),
        (model_body(training={"lr": 0}), "training.lr"),
        (model_body(training={"epochs": 2, "colour": "red"}), "training.colour"),
        (model_body(name=""), "name"),
        (model_body(name="x" * 201), "name"),
        (model_body(name="tab\there"), "name"),
        (model_body(extra=1), "extra"),
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


def test_a_model_too_large_for_the_api_is_refused(api: Api) -> None:
    # given: a 1M-feature input and 1M classes with default hidden widths: ~0.5G parameters
    body = model_body(
        architecture={"name": "mlp", "params": {"input_dim": 1_000_000, "num_classes": 1_000_000}}
    )

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

    # when
    content = api.client.get(f"/v1/models/{model['id']}/versions/latest/artifact").content

    # then: first layer (8, INPUT_DIM), last layer (NUM_CLASSES, 8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        path.write_bytes(content)
        weights = load_file(str(path))
    assert weights["layers.0.weight"].shape == (8, INPUT_DIM)
    assert weights["layers.2.weight"].shape == (NUM_CLASSES, 8)
