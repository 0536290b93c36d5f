"""Reading ``POST /v1/models`` bodies: JSON, or multipart with a ``spec`` field (the same
JSON) and a ``weights`` file (a safetensors ``state_dict``).

Both are read here, bounded as they arrive: the JSON to ``MAX_JSON_BODY_BYTES``, the
multipart body to the weights limit plus a little. Starlette's multipart parser spools the
file to disk past 1 MiB; it is then copied into ``folder`` for the service to check.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from app.api.body_limit import MAX_JSON_BODY_BYTES
from app.errors import BadRequest, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from app.schemas.field_errors import invalid
from app.schemas.models import ModelCreate
from app.services.models import WEIGHTS_FIELD, UploadedWeights

SPEC_FIELD = "spec"
DECIMAL = re.compile(r"[0-9]{1,18}")
# The spec, part headers and boundaries on top of the weights.
FORM_OVERHEAD_BYTES = MAX_JSON_BODY_BYTES + 64 * 1024


async def read_model_form(
    request: Request, *, folder: Path, max_weights_bytes: int
) -> tuple[ModelCreate, UploadedWeights | None]:
    """The spec and, from a multipart body, the weights file saved under ``folder``."""
    media_type, _ = parse_options_header(request.headers.get("content-type", ""))
    if media_type in (b"", b"application/json"):
        raw = await _bounded_body(request, MAX_JSON_BODY_BYTES, "body")
        return _spec(raw, ()), None
    if media_type != b"multipart/form-data":
        raise UnsupportedMediaType(
            "send the model as application/json, or as multipart/form-data with a 'spec' "
            f"field and a '{WEIGHTS_FIELD}' file, not {media_type.decode('latin-1')!r}"
        )
    limit = max_weights_bytes + FORM_OVERHEAD_BYTES
    parser = MultiPartParser(
        request.headers,
        _bounded_stream(request, limit, WEIGHTS_FIELD),
        max_files=2,
        max_fields=8,
        max_part_size=MAX_JSON_BODY_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"malformed multipart body: {exc.message}") from None
    try:
        for name in form:
            if name not in (SPEC_FIELD, WEIGHTS_FIELD):
                raise InvalidInput(
                    f"{name}: unknown form field; allowed: {SPEC_FIELD}, {WEIGHTS_FIELD}",
                    field=name,
                )
            if len(form.getlist(name)) > 1:
                raise InvalidInput(f"{name}: given twice", field=name)
        spec = form.get(SPEC_FIELD)
        if not isinstance(spec, str):
            raise InvalidInput(
                f"{SPEC_FIELD}: a text field holding the model's JSON is required",
                field=SPEC_FIELD,
            )
        body = _spec(spec.encode(), (SPEC_FIELD,))
        file = form.get(WEIGHTS_FIELD)
        if file is None:
            return body, None
        if not isinstance(file, UploadFile):
            raise InvalidInput(
                f"{WEIGHTS_FIELD}: send the weights as a file (with a filename)",
                field=WEIGHTS_FIELD,
            )
        if file.size is not None and file.size > max_weights_bytes:
            raise PayloadTooLarge(
                f"{WEIGHTS_FIELD}: larger than the limit of {max_weights_bytes} bytes",
                field=WEIGHTS_FIELD,
            )
        path = folder / "weights.safetensors"
        await run_in_threadpool(_copy, file, path)
        return body, UploadedWeights(path=path)
    finally:
        await form.close()


def _spec(raw: bytes, prefix: tuple[str, ...]) -> ModelCreate:
    where = prefix[0] if prefix else "body"
    try:
        # NaN and Infinity parse (as Python's JSON does), so that the finite-number check
        # later names the field they are in.
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"{where}: invalid JSON ({exc})", field=where) from None
    try:
        return ModelCreate.model_validate(value)
    except ValidationError as exc:
        raise invalid(exc) from None


def _copy(file: UploadFile, path: Path) -> None:
    file.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(file.file, out, 1024 * 1024)


async def _bounded_stream(request: Request, limit: int, field: str) -> AsyncGenerator[bytes, None]:
    declared = request.headers.get("content-length", "")
    if DECIMAL.fullmatch(declared) and int(declared) > limit:
        raise PayloadTooLarge(
            f"{field}: the body ({declared} bytes) is larger than the limit of {limit} bytes",
            field=field,
        )
    received = 0
    try:
        async for data in request.stream():
            received += len(data)
            if received > limit:
                raise PayloadTooLarge(
                    f"{field}: the body is larger than the limit of {limit} bytes", field=field
                )
            yield data
    except ClientDisconnect:
        raise BadRequest("the client disconnected before the body was complete") from None


async def _bounded_body(request: Request, limit: int, field: str) -> bytes:
    chunks = [data async for data in _bounded_stream(request, limit, field)]
    return b"".join(chunks)


def openapi_body() -> dict[str, Any]:
    """``openapi_extra`` for the route: the JSON body (``ModelCreate``) or the form."""
    spec_schema = _inline_refs(ModelCreate.model_json_schema())
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": spec_schema},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [SPEC_FIELD],
                        "properties": {
                            SPEC_FIELD: {
                                "type": "string",
                                "description": "The JSON body as text.",
                            },
                            WEIGHTS_FIELD: {
                                "type": "string",
                                "format": "binary",
                                "description": "Pretrained weights: a safetensors state_dict "
                                "that version 0 holds exactly.",
                            },
                        },
                    }
                },
            },
        }
    }


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its local ``#/$defs/...`` references replaced by their targets (an
    OpenAPI document resolves references from its root, not from the schema)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
