"""The one place errors become HTTP answers: RFC 9457 ``application/problem+json``.

Domain errors keep their status and field; request validation is a 422 naming each field
by its dotted path (``updater.params.alpha``); Starlette's HTTP errors keep their status; an
unreachable database or object store is a 503 with ``Retry-After``; anything else is a
logged 500.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.errors import RETRY_AFTER_SECONDS, DomainError, FieldError, InvalidInput
from app.schemas.field_errors import field_path
from app.schemas.problem import PROBLEM_MEDIA_TYPE
from app.schemas.tagged_union import without_tags
from app.storage import StorageUnavailable

log = logging.getLogger(__name__)

REQUEST_PARTS = ("body", "query", "path", "header", "cookie")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str | None,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors:
        body["field"] = errors[0].field
        body["errors"] = [{"field": e.field, "reason": e.reason} for e in errors]
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def request_field(loc: Sequence[str | int]) -> str:
    parts = list(without_tags(loc))
    if parts and parts[0] in REQUEST_PARTS:
        where = parts.pop(0)
        if not parts:
            return str(where)
    return field_path(parts)


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(request, exc.status, exc.title, exc.detail, exc.errors, exc.headers)


async def request_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        reason = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            reason = f"invalid JSON ({error.get('ctx', {}).get('error', 'decode error')})"
            errors.append(FieldError("body", reason))
            continue
        errors.append(FieldError(request_field(error.get("loc", ())), reason))
    problem = InvalidInput.from_errors(errors or [FieldError("body", "invalid request")])
    return problem_response(request, problem.status, problem.title, problem.detail, errors)


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and detail == phrase:
        detail = f"no route {request.method} {request.url.path}"
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
        detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
    return problem_response(request, exc.status_code, phrase, detail, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (RFC 9110 ``Allow``). Starlette names
    only the first route that matched the path, where GET and POST are two routes."""
    allowed = [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


async def database_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable: %s", exc)
    return _unavailable(request, "the database is unavailable; retry later")


async def storage_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("object storage unavailable: %s", exc)
    return _unavailable(request, "object storage is unavailable; retry later")


def _unavailable(request: Request, detail: str) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return problem_response(request, 503, "Service unavailable", detail, headers=headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "Internal server error", "an unexpected error occurred")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(OperationalError, database_unavailable_handler)
    app.add_exception_handler(PoolTimeoutError, database_unavailable_handler)
    app.add_exception_handler(StorageUnavailable, storage_unavailable_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
