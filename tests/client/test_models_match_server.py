"""The client's result types keep in step with the server's response schemas.

Read from the served OpenAPI document (not from ``app.schemas``): every field the server
documents in an answer is a typed field of the client's model, and every field the
client requires is one the server always sends.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from relearn import models
from tests.client.capabilities import Capabilities

# (method, path, status) of an answer → the client model that reads it (or its items).
ANSWERS: list[tuple[str, str, str, type[BaseModel], bool]] = [
    ("get", "/v1/models/{model_id}", "200", models.Model, False),
    ("get", "/v1/jobs/{job_id}", "200", models.Job, False),
    ("get", "/v1/models/{model_id}/versions/{version}", "200", models.Version, False),
    ("get", "/v1/models/{model_id}/chunks", "200", models.Chunk, True),
    ("post", "/v1/models/{model_id}/chunks", "202", models.ChunkAccepted, False),
    ("get", "/v1/models/{model_id}/metrics", "200", models.Metrics, False),
    ("get", "/v1/architectures", "200", models.Architecture, True),
    ("put", "/v1/models/{model_id}/aliases/{alias}", "200", models.Alias, False),
]


def answer_schema(
    capabilities: Capabilities, method: str, path: str, status: str, listed: bool
) -> dict[str, Any] | None:
    operation = capabilities.operation(method, path)
    if operation is None:
        return None
    content = operation["responses"][status].get("content", {})
    schema = resolve(capabilities, content.get("application/json", {}).get("schema", {}))
    if listed:
        schema = resolve(capabilities, schema["properties"]["items"]["items"])
    return schema


def resolve(capabilities: Capabilities, schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = capabilities.openapi
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return resolve(capabilities, node)


@pytest.mark.parametrize(("method", "path", "status", "model", "listed"), ANSWERS)
def test_the_client_types_what_the_server_sends(
    capabilities: Capabilities,
    method: str,
    path: str,
    status: str,
    model: type[BaseModel],
    listed: bool,
) -> None:
    schema = answer_schema(capabilities, method, path, status, listed)
    capabilities.require(schema is not None, f"{method.upper()} {path}")
    assert schema is not None
    sent = set(schema.get("properties", {}))
    always_sent = set(schema.get("required", []))
    required_here = {name for name, field in model.model_fields.items() if field.is_required()}
    assert sent, f"{path}: no documented fields"
    assert sent - set(model.model_fields) == set(), f"fields the client leaves untyped ({path})"
    assert required_here - always_sent == set(), f"fields the server may omit ({path})"
