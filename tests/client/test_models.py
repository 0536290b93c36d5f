"""Models through the client against ``relearn serve``: create, read, find, list."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from relearn import Client, Conflict, InvalidRequest, Model, NotFound
from tests.client.capabilities import Capabilities
from tests.client.data import INPUT_DIM, spec


def test_create_model_sends_what_is_given_and_returns_a_typed_model(
    client: Client, name: str
) -> None:
    # when: a model is created from keyword arguments, the updater by name only
    model = client.create_model(
        name,
        architecture={"name": "mlp", "params": {"input_dim": INPUT_DIM, "num_classes": 3}},
        updater="naive",
        training={"epochs": 1},
    )

    # then: the server's defaults are filled in and the answer is typed
    assert isinstance(model, Model) and model.name == name and model.latest_version == 0
    assert model.architecture.params["num_classes"] == 3
    assert model.updater.name == "naive"
    assert model.training["epochs"] == 1 and "lr" in model.training
    assert isinstance(model.created_at, datetime)
    # and: once version 0 exists the model is ready
    assert client.wait_model(model, timeout=120).status in (None, "ready")


def test_a_model_is_found_by_id_and_by_name(client: Client, name: str) -> None:
    # given
    created = client.create_model(spec_body=spec(name))
    # when / then: the same model (a worker writing version 0 between the two reads
    # changes its status and storage bytes, nothing else)
    moving = {"status", "storage_bytes"}
    by_id, by_ref = client.get_model(created.id), client.get_model(created)
    assert by_id.model_dump(exclude=moving) == by_ref.model_dump(exclude=moving)
    assert client.get_model(name).id == created.id
    found = client.find_model(name)
    assert found is not None and found.id == created.id
    assert client.find_model(f"{name}-nobody") is None


def test_an_unknown_model_is_not_found(client: Client, name: str) -> None:
    with pytest.raises(NotFound) as caught:
        client.get_model(f"{name}-nobody")
    assert caught.value.status == 404 and caught.value.detail


def test_listing_walks_every_page_once(client: Client, name: str) -> None:
    # given: three models
    created = {client.create_model(spec_body=spec(f"{name}-{i}")).id for i in range(3)}
    # when: listed one per page (a server without pagination answers all at once)
    listed = [m.id for m in client.list_models(page_size=1)]
    # then: each model once
    assert created <= set(listed)
    assert len(listed) == len(set(listed))
    assert [m.id for m in client.iter_models()] == [m.id for m in client.list_models()]


def test_invalid_input_names_the_field(client: Client, name: str) -> None:
    body = spec(name)
    body["architecture"]["params"]["input_dim"] = 0
    with pytest.raises(InvalidRequest) as caught:
        client.create_model(spec_body=body)
    assert caught.value.status == 422
    assert "architecture.params.input_dim" in [e.field for e in caught.value.errors]


def test_a_duplicate_name_is_a_conflict(
    client: Client, name: str, capabilities: Capabilities
) -> None:
    operation = capabilities.operation("post", "/v1/models") or {}
    capabilities.require("409" in operation.get("responses", {}), "unique model names")
    client.create_model(spec_body=spec(name))
    with pytest.raises(Conflict):
        client.create_model(spec_body=spec(name))


def test_pretrained_weights_become_version_0(
    client: Client, name: str, capabilities: Capabilities
) -> None:
    capabilities.require(
        capabilities.accepts("post", "/v1/models", "multipart/form-data"), "pretrained weights"
    )
    # given: a state_dict of the architecture's names and shapes (from a seeded model)
    reference = client.wait_model(client.create_model(spec_body=spec(f"{name}-ref")), timeout=120)
    weights = {
        key: np.full(tensor.shape, 0.25, dtype=np.float32)
        for key, tensor in client.load_state_dict(reference, 0).items()
    }
    # when: a model is created with them
    model = client.wait_model(
        client.create_model(spec_body=spec(name), weights=weights), timeout=120
    )
    # then: version 0 holds exactly those tensors
    assert model.status == "ready", model.error
    loaded = client.load_state_dict(model, 0)
    assert loaded.keys() == weights.keys()
    for key, value in weights.items():
        assert np.array_equal(loaded[key].numpy(), value), key


def test_a_deleted_model_is_gone(client: Client, name: str, capabilities: Capabilities) -> None:
    capabilities.require(capabilities.has("delete", "/v1/models/{model_id}"), "model deletion")
    model = client.create_model(spec_body=spec(name))
    client.delete_model(model)
    with pytest.raises(NotFound):
        client.get_model(model.id)
    assert client.find_model(name) is None
