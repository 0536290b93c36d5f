"""The OpenAPI document is typed: one schema per updater and built-in architecture (with
their defaults and bounds), metrics as schemas, one problem+json shape on every error
response, the API key declared, and examples that are valid for their schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from app.api.main import create_app
from app.architectures import BUILTINS
from app.db.migrate import upgrade_to_head
from app.openapi_examples import EXAMPLES
from app.schemas.chunks import ChunkAccepted
from app.schemas.jobs import JobPublic
from app.schemas.models import ModelCreate, ModelPublic
from app.schemas.problem import Problem
from app.schemas.updaters import PARAMS_BY_UPDATER
from tests.api.harness import embedded_settings

Document = dict[str, Any]
COMPONENTS = "#/components/schemas/"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Document:
    settings = embedded_settings(tmp_path_factory.mktemp("openapi"))
    upgrade_to_head(settings.database_url)
    with TestClient(create_app(settings)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    body: Document = response.json()
    return body


def schema(document: Document, name: str) -> Document:
    found: Document = document["components"]["schemas"][name]
    return found


def resolve(document: Document, node: Document) -> Document:
    while "$ref" in node:
        node = schema(document, node["$ref"].removeprefix(COMPONENTS))
    return node


def operations(document: Document) -> Iterator[tuple[str, str, Document]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def typed_objects(document: Document, node: Document) -> Iterator[Document]:
    """The object schemas a property may hold (through refs, unions and nullability)."""
    node = resolve(document, node)
    choices = node.get("oneOf") or node.get("anyOf")
    if choices:
        for choice in choices:
            yield from typed_objects(document, choice)
    elif node.get("type") != "null":
        yield node


def test_no_params_or_metrics_object_is_untyped(document: Document) -> None:
    # given: every property named params or metrics, in every schema of the document
    found = [
        (owner, name, prop)
        for owner, component in document["components"]["schemas"].items()
        for name, prop in component.get("properties", {}).items()
        if name in ("params", "metrics")
    ]
    assert {name for _, name, _ in found} == {"params", "metrics"}

    # then: each names its fields (an updater without hyperparameters says it has none)
    for owner, name, prop in found:
        for target in typed_objects(document, prop):
            assert "properties" in target, f"{owner}.{name} is an untyped object: {target}"


def updater_union(document: Document) -> Document:
    updater: Document = schema(document, "ModelCreate")["properties"]["updater"]
    return updater


def test_each_updater_has_its_schema_with_defaults_and_bounds(document: Document) -> None:
    # given: the registration body's updater, a union discriminated by name
    union = updater_union(document)
    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "name"
    assert set(mapping) == set(PARAMS_BY_UPDATER)
    assert len(union["oneOf"]) == len(PARAMS_BY_UPDATER)

    for updater, ref in mapping.items():
        # then: the variant's name is that updater, and its params are the updater's own
        variant = resolve(document, {"$ref": ref})
        assert variant["properties"]["name"]["const"] == updater
        params = resolve(document, variant["properties"]["params"])
        expected = PARAMS_BY_UPDATER[updater].model_json_schema()
        assert set(params["properties"]) == set(expected.get("properties", {}))
        assert params.get("additionalProperties") is False
        for field, prop in params["properties"].items():
            assert "default" in prop or "anyOf" in prop, f"{updater}.{field} has no default"
            for bounded in [prop, *prop.get("anyOf", [])]:
                if bounded.get("type") in ("integer", "number"):
                    assert "minimum" in bounded or "exclusiveMinimum" in bounded, (
                        f"{updater}.{field}"
                    )
                    assert "maximum" in bounded or "exclusiveMaximum" in bounded, (
                        f"{updater}.{field}"
                    )


def test_the_der_schema_states_its_bounds(document: Document) -> None:
    # given
    der = resolve(document, {"$ref": updater_union(document)["discriminator"]["mapping"]["der"]})
    params = resolve(document, der["properties"]["params"])["properties"]

    # then: the numbers of DERParams, as a client reads them
    assert (params["alpha"]["default"], params["alpha"]["minimum"]) == (0.3, 0)
    assert params["alpha"]["maximum"] == 1000
    assert params["memory_size"]["maximum"] == 1_000_000
    assert params["logits"]["enum"] == ["after_fit", "training"]


def test_architectures_are_typed_built_ins_or_an_entry_point(document: Document) -> None:
    # given
    union = schema(document, "ModelCreate")["properties"]["architecture"]
    variants = [resolve(document, choice) for choice in union["oneOf"]]
    by_name = {v["properties"]["name"].get("const"): v for v in variants}

    # then: each built-in with its own params schema, and one variant for any other name
    assert set(by_name) == {*BUILTINS, None}
    for name, record in BUILTINS.items():
        params = resolve(document, by_name[name]["properties"]["params"])
        assert set(params["properties"]) == set(record.params.model_json_schema()["properties"])
        assert params["required"] == record.params.model_json_schema()["required"]
    entry_point = by_name[None]["properties"]
    assert set(entry_point["name"]["not"]["enum"]) == set(BUILTINS)
    assert {"input_shape", "num_classes"} <= set(entry_point["params"]["properties"])


def test_job_and_version_metrics_are_schemas(document: Document) -> None:
    # given
    job = schema(document, "JobPublic")["properties"]["metrics"]
    version = schema(document, "VersionPublic")["properties"]["metrics"]
    (metrics,) = list(typed_objects(document, job))

    # then
    assert metrics == resolve(document, version)
    props = metrics["properties"]
    assert {"accuracy", "average_accuracy", "train", "promotion", "timings"} <= set(props)
    train = next(typed_objects(document, props["train"]))
    assert "loss_curve" in train["properties"]
    promotion = next(typed_objects(document, props["promotion"]))
    assert set(promotion["required"]) == {"promoted", "reasons"}
    matrix = schema(document, "ModelMetrics")["properties"]
    assert {"accuracy_matrix", "average_accuracy", "forgetting", "backward_transfer"} <= set(matrix)


def test_every_error_response_is_a_problem(document: Document) -> None:
    errors = [
        (f"{method.upper()} {path} {status}", response)
        for path, method, operation in operations(document)
        for status, response in operation["responses"].items()
        if status[0] in "45"
    ]
    assert len(errors) > 40
    for label, response in errors:
        assert list(response["content"]) == [PROBLEM], label
        assert response["content"][PROBLEM]["schema"] == {"$ref": COMPONENTS + "Problem"}, label
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "ValidationError" not in document["components"]["schemas"]


def test_the_api_key_is_declared_and_401_documented(document: Document) -> None:
    # given
    scheme = document["components"]["securitySchemes"]["apiKey"]

    # then: a bearer key on every /v1 operation, each documenting its 401
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    protected = [(p, m, op) for p, m, op in operations(document) if p.startswith("/v1/")]
    assert len(protected) > 15
    for path, method, operation in protected:
        assert operation["security"] == [{"apiKey": []}], (method, path)
        assert "401" in operation["responses"], (method, path)
    assert "security" not in document["paths"]["/healthz"]["get"]


EXAMPLE_MODELS: dict[tuple[str, str, str], type[BaseModel]] = {
    ("/v1/models", "post", "request"): ModelCreate,
    ("/v1/models", "post", "201"): ModelPublic,
    ("/v1/models/{model_id}/chunks", "post", "202"): ChunkAccepted,
    ("/v1/models/{model_id}/chunks", "post", "422"): Problem,
    ("/v1/jobs/{job_id}", "get", "200"): JobPublic,
}


@pytest.mark.parametrize("where", list(EXAMPLE_MODELS), ids=" ".join)
def test_the_main_routes_carry_valid_examples(document: Document, where: tuple[str, ...]) -> None:
    # given
    path, method, status = where
    operation = document["paths"][path][method]
    if status == "request":
        content = operation["requestBody"]["content"]["application/json"]
    else:
        content = next(iter(operation["responses"][status]["content"].values()))

    # then: the document shows them, and each one is valid for its schema
    assert content["examples"] == EXAMPLES[(path, method)][status]
    for named in content["examples"].values():
        EXAMPLE_MODELS[where].model_validate(named["value"])


def test_the_registration_body_refers_to_the_typed_schema(document: Document) -> None:
    body = document["paths"]["/v1/models"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": COMPONENTS + "ModelCreate"}
    assert "#/$defs/" not in str(document)


def test_a_model_reads_back_with_its_typed_updater(tmp_path: Path) -> None:
    # given: a registration that names only the updater
    settings = embedded_settings(tmp_path)
    upgrade_to_head(settings.database_url)
    body = EXAMPLES[("/v1/models", "post")]["request"]["mlp-er"]["value"]
    body = {**body, "updater": {"name": "der", "params": {"beta": 0.5}}}

    # when
    with TestClient(create_app(settings)) as client:
        created = client.post("/v1/models", json=body)

    # then: every DER default filled in, under the union's name
    assert created.status_code == 201, created.text
    updater = created.json()["updater"]
    assert updater["name"] == "der"
    assert updater["params"] == {
        "memory_size": 500,
        "memory_batch_size": None,
        "memory_policy": "class_balanced",
        "alpha": 0.3,
        "beta": 0.5,
        "logits": "after_fit",
    }


def test_multipart_json_fields_name_their_schema(document: Document) -> None:
    # given: the text fields that carry JSON beside an uploaded file
    chunk_form = document["paths"]["/v1/models/{model_id}/chunks"]["post"]["requestBody"]
    model_form = document["paths"]["/v1/models"]["post"]["requestBody"]
    updater = chunk_form["content"]["multipart/form-data"]["schema"]["properties"]["updater"]
    spec = model_form["content"]["multipart/form-data"]["schema"]["properties"]["spec"]

    # then
    assert updater["contentSchema"] == {"$ref": COMPONENTS + "Updater"}
    assert spec["contentSchema"] == {"$ref": COMPONENTS + "ModelCreate"}
    assert set(schema(document, "Updater")["discriminator"]["mapping"]) == set(PARAMS_BY_UPDATER)
