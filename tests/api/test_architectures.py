"""``GET /v1/architectures`` and registering entry-point architectures: the built-ins with
their params schemas, plus what recently seen workers announced (``workers`` rows, as a
worker's heartbeat writes them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, Field

from app.db.models import Model, Worker, utcnow
from tests.api.harness import Api
from tests.api.payloads import model_body


class SeqParams(BaseModel):
    """An entry-point architecture's params, as its package declares them."""

    input_shape: list[int] = Field(min_length=2, max_length=2)
    num_classes: int = Field(ge=2)
    layers: int = Field(2, ge=1, le=8)


def announce(api: Api, worker_id: str, seen_ago: timedelta, *names: str) -> None:
    items: list[dict[str, Any]] = [
        {"name": name, "source": "entry-point", "params_schema": SeqParams.model_json_schema()}
        for name in names
    ]
    items.append({"name": "mlp", "source": "builtin", "params_schema": {"type": "object"}})
    with api.sessions.begin() as session:
        session.add(
            Worker(
                id=worker_id,
                hostname="gpu-1",
                last_seen=utcnow() - seen_ago,
                architectures=items,
            )
        )


def test_the_builtins_are_listed_with_their_params_schemas(api: Api) -> None:
    # when
    items = api.client.get("/v1/architectures").json()["items"]

    # then
    assert [(a["name"], a["source"]) for a in items] == [
        ("mlp", "builtin"),
        ("cnn", "builtin"),
        ("resnet18", "builtin"),
    ]
    schemas = {a["name"]: a["params_schema"] for a in items}
    assert set(schemas["cnn"]["properties"]) == {"input_shape", "num_classes", "channels", "hidden"}
    assert schemas["cnn"]["required"] == ["input_shape", "num_classes"]
    assert schemas["resnet18"]["properties"]["width"]["default"] == 64
    assert schemas["mlp"]["required"] == ["input_dim", "num_classes"]


def test_architectures_of_recently_seen_workers_are_listed_and_can_be_registered(
    api: Api,
) -> None:
    # given: a live worker announcing "seq", and one gone for an hour announcing "old"
    announce(api, "w-live", timedelta(seconds=5), "seq")
    announce(api, "w-gone", timedelta(hours=1), "old")

    # when
    items = api.client.get("/v1/architectures").json()["items"]
    created = api.client.post(
        "/v1/models",
        json=model_body(
            architecture={"name": "seq", "params": {"input_shape": [5, 3], "num_classes": 4}}
        ),
    )
    gone = api.client.post(
        "/v1/models",
        json=model_body(
            architecture={"name": "old", "params": {"input_shape": [5, 3], "num_classes": 4}}
        ),
    )

    # then: "seq" is listed once with its schema (the builtin mlp is not repeated) and
    # registers with its defaults filled in; "old" is unknown
    assert [(a["name"], a["source"]) for a in items][3:] == [("seq", "entry-point")]
    assert items[3]["params_schema"] == SeqParams.model_json_schema()
    assert created.status_code == 201, created.text
    assert created.json()["architecture"] == {
        "name": "seq",
        "params": {"input_shape": [5, 3], "num_classes": 4, "layers": 2},
    }
    assert gone.status_code == 422
    assert gone.json()["field"] == "architecture.name"
    assert "known: ['cnn', 'mlp', 'resnet18', 'seq']" in gone.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"input_shape": [5, 3], "num_classes": 4, "layers": 9}, "architecture.params.layers"),
        ({"input_shape": [5], "num_classes": 4}, "architecture.params.input_shape"),
        ({"num_classes": 4}, "architecture.params"),
        ({"input_shape": [5, 3], "num_classes": 4, "layers": "two"}, "architecture.params.layers"),
    ],
)
def test_entry_point_params_are_checked_against_the_announced_schema(
    api: Api, params: dict, field: str
) -> None:
    # given
    announce(api, "w-live", timedelta(seconds=1), "seq")

    # when
    response = api.client.post(
        "/v1/models", json=model_body(architecture={"name": "seq", "params": params})
    )

    # then
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert api.count(Model) == 0


def test_a_schema_without_the_convention_fields_is_refused(api: Api) -> None:
    # given: a worker announcing params with no input_shape (older or broken package)
    with api.sessions.begin() as session:
        session.add(
            Worker(
                id="w-odd",
                hostname="gpu-2",
                architectures=[
                    {
                        "name": "odd",
                        "source": "entry-point",
                        "params_schema": {"type": "object", "properties": {"k": {"default": 1}}},
                    }
                ],
            )
        )

    # when
    response = api.client.post(
        "/v1/models", json=model_body(architecture={"name": "odd", "params": {}})
    )

    # then: the API cannot validate its chunks, so it refuses, naming the field
    assert response.status_code == 422
    assert response.json()["field"] == "architecture.params.input_shape"
