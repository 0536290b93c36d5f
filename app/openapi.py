"""The OpenAPI document as clients should read it, finished from what FastAPI generates.

FastAPI documents error bodies as ``application/json`` and adds its own 422 shape
(``HTTPValidationError``) that this API never sends; here every error response becomes
the one problem+json shape (``Problem``), each ``/v1`` operation documents the 401 and
the bearer API key (``app/api/auth.py``), the registration body refers to the typed
``ModelCreate`` schema instead of an inlined copy (whose tagged unions would point at
``$defs`` the document does not have), the main routes carry examples, and schemas no
operation uses are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI

from app.openapi_examples import EXAMPLES
from app.schemas.models import ModelCreate
from app.schemas.problem import PROBLEM_MEDIA_TYPE
from app.schemas.updaters import UPDATER_ADAPTER

Document = dict[str, Any]

COMPONENTS = "#/components/schemas/"
PROBLEM_REF = {"$ref": COMPONENTS + "Problem"}
SECURITY_SCHEME = "apiKey"
PROTECTED_PREFIX = "/v1"
UNAUTHORIZED = {
    "description": "No valid API key: send `Authorization: Bearer KEY` (answered with "
    '`WWW-Authenticate: Bearer realm="relearn"`).',
    "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}},
}
SECURITY_SCHEMES = {
    SECURITY_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`relearn keys create`), sent as `Authorization: Bearer "
        "KEY`. Needed once any key exists (RELEARN_AUTH=auto, the default), always "
        "(required) or never (off).",
    }
}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CREATE_MODEL = ("/v1/models", "post")
PUSH_CHUNK = ("/v1/models/{model_id}/chunks", "post")
MULTIPART = "multipart/form-data"
# Multipart text fields that hold JSON: (operation, field) -> the schema of that JSON.
JSON_FIELDS = {(CREATE_MODEL, "spec"): "ModelCreate", (PUSH_CHUNK, "updater"): "Updater"}


def install_openapi(app: FastAPI) -> None:
    """``app.openapi()`` answers the finished document (built once, as FastAPI's is)."""
    generate: Callable[[], Document] = app.openapi

    def openapi() -> Document:
        if getattr(app.state, "finished_openapi", None) is None:
            app.state.finished_openapi = finish(generate())
        document: Document = app.state.finished_openapi
        return document

    setattr(app, "openapi", openapi)  # noqa: B010 - FastAPI's documented override


def finish(document: Document) -> Document:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _register_model_create(document, schemas)
    _register(schemas, "Updater", UPDATER_ADAPTER.json_schema(ref_template=COMPONENTS + "{model}"))
    _describe_json_fields(document)
    for path, method, operation in _operations(document):
        _problem_errors(operation)
        if path.startswith(PROTECTED_PREFIX):
            operation["responses"]["401"] = UNAUTHORIZED
            operation["security"] = [{SECURITY_SCHEME: []}]
        for status, example in EXAMPLES.get((path, method), {}).items():
            _add_example(operation, status, example)
    document["components"]["securitySchemes"] = SECURITY_SCHEMES
    _drop_unused(document)
    return document


def _operations(document: Document) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def _problem_errors(operation: dict[str, Any]) -> None:
    """Every 4xx/5xx answer: only problem+json, the ``Problem`` schema."""
    for status, response in operation.get("responses", {}).items():
        if status[:1] in ("4", "5"):
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
        if status == "422" and response.get("description") == "Validation Error":
            response["description"] = "Invalid input; `errors` names each field."


def _register_model_create(document: Document, schemas: dict[str, Any]) -> None:
    """``ModelCreate`` and the schemas it uses as components; the JSON body refers to it."""
    _register(
        schemas, "ModelCreate", ModelCreate.model_json_schema(ref_template=COMPONENTS + "{model}")
    )
    path, method = CREATE_MODEL
    body = document["paths"][path][method]["requestBody"]["content"]
    body["application/json"]["schema"] = {"$ref": COMPONENTS + "ModelCreate"}


def _register(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    for key, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(key, definition)  # the same class: FastAPI's copy is equivalent
    schemas[name] = schema


def _describe_json_fields(document: Document) -> None:
    """A multipart text field holding JSON names that JSON's schema (OpenAPI 3.1's
    ``contentMediaType`` / ``contentSchema``)."""
    for ((path, method), field), name in JSON_FIELDS.items():
        form = document["paths"][path][method]["requestBody"]["content"][MULTIPART]
        prop = form["schema"]["properties"][field]
        prop["contentMediaType"] = "application/json"
        prop["contentSchema"] = {"$ref": COMPONENTS + name}


def _add_example(operation: dict[str, Any], status: str, example: dict[str, Any]) -> None:
    """``status`` is a response code, or ``request`` for the JSON request body."""
    if status == "request":
        content = operation["requestBody"]["content"]["application/json"]
    else:
        media = operation["responses"][status]["content"]
        content = media.get("application/json") or media[PROBLEM_MEDIA_TYPE]
    content.setdefault("examples", {}).update(example)


def _drop_unused(document: Document) -> None:
    """Keep only the component schemas some operation reaches (FastAPI's default 422
    shapes and variants hidden from a union go)."""
    schemas = document["components"]["schemas"]
    reached: set[str] = set()
    pending = list(_refs(document.get("paths", {})))
    while pending:
        name = pending.pop()
        if name in reached or name not in schemas:
            continue
        reached.add(name)
        pending.extend(_refs(schemas[name]))
    document["components"]["schemas"] = {k: v for k, v in schemas.items() if k in reached}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(COMPONENTS):
                yield value.removeprefix(COMPONENTS)
            elif key == "mapping" and isinstance(value, dict):
                yield from (
                    v.removeprefix(COMPONENTS) for v in value.values() if isinstance(v, str)
                )
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
