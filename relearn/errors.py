"""The errors the client raises: one family under ``RelearnError``.

An answer of 400 or more becomes an ``APIError`` subclass chosen by its status, carrying
the RFC 9457 problem the API sent (``title``, ``detail``, and ``errors``, one
``FieldError(field, reason)`` per offending input). A server that cannot be reached is
``ServerUnreachable``; the caller never sees an ``httpx`` exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from relearn.models import Job, Model

# FastAPI/pydantic prefix a field's location with the part of the request it came from.
REQUEST_PARTS = ("body", "query", "path", "header", "cookie", "form")


class RelearnError(Exception):
    """Base of every error this client raises."""


@dataclass(frozen=True)
class FieldError:
    """One offending input: its dotted path (``updater.params.alpha``) and why."""

    field: str
    reason: str


class APIError(RelearnError):
    """The API answered with an error status; the problem+json body's parts as attributes.

    ``retry_after`` is the ``Retry-After`` header in seconds, when the API said when to try
    again (503, or 409 while a worker still exports a ``.pt2`` program).
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type: str = "about:blank",
        instance: str | None = None,
        errors: tuple[FieldError, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        message = f"{status} {title}" + (f": {detail}" if detail else "")
        super().__init__(message)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.instance = instance
        self.errors = errors
        self.retry_after = retry_after

    @property
    def field(self) -> str | None:
        """The first offending input, if the API named one."""
        return self.errors[0].field if self.errors else None


class BadRequest(APIError):
    """400: the request is malformed (e.g. an upload that is not a valid chunk file)."""


class Unauthorized(APIError):
    """401: no API key, or not a valid one (``api_key=`` / ``RELEARN_API_KEY``)."""


class Forbidden(APIError):
    """403: the key is valid but may not do this."""


class NotFound(APIError):
    """404: no such model, job, version or alias (or another tenant's)."""


class Conflict(APIError):
    """409: the resource's state forbids it (a duplicate name, cancelling a finished job,
    a ``.pt2`` not exported yet: see ``retry_after``)."""


class PayloadTooLarge(APIError):
    """413: the upload is over the server's size limit."""


class UnsupportedMediaType(APIError):
    """415: the upload is neither ``.npz`` nor ``.safetensors``."""


class InvalidRequest(APIError):
    """422: some input is invalid; ``errors`` names each field and the reason."""


class RateLimited(APIError):
    """429: too many requests; see ``retry_after``."""


class ServerError(APIError):
    """5xx: the server failed; retrying later may work."""


class ServiceUnavailable(ServerError):
    """503: a backend (database, storage, broker) is unavailable; see ``retry_after``."""


BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: InvalidRequest,
    429: RateLimited,
    503: ServiceUnavailable,
}


class ServerUnreachable(RelearnError):
    """No answer from the API at ``url``: refused, unknown host, or timed out."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"the relearn server is not reachable at {url}: {reason}")
        self.url = url
        self.reason = reason


class ChecksumMismatch(RelearnError):
    """A downloaded artifact's sha256 is not the one the server announced (its ETag)."""


class JobFailed(RelearnError):
    """The job ended ``failed`` or ``cancelled`` (``wait_job(..., check=True)``)."""

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message)
        self.job = job


class WaitTimeout(RelearnError):
    """A wait ran out of time; ``last`` is the job (or model) as last seen, not final."""

    def __init__(self, message: str, last: Job | Model) -> None:
        super().__init__(message)
        self.last = last


def error_from_response(response: httpx.Response) -> APIError:
    """The ``APIError`` for an error answer, read from its problem+json body.

    Tolerant of what it is sent: the service's shape (``errors: [{"field", "reason"}]``),
    FastAPI's default (``detail: [{"loc", "msg"}]``), a bare ``field``, or plain text from
    something in front of relearn (a proxy).
    """
    status = response.status_code
    cls = BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
    phrase = response.reason_phrase or "Error"
    retry_after = _retry_after(response.headers.get("retry-after"))
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip()[:500] or None
        return cls(status, phrase, text, retry_after=retry_after)

    detail = body.get("detail")
    errors = [e for e in map(_field_error, body.get("errors") or []) if e]
    if isinstance(detail, list):  # FastAPI's default validation body
        errors += [e for e in map(_field_error, detail) if e]
        detail = None
    if not errors and isinstance(body.get("field"), str):
        errors = [FieldError(body["field"], str(detail or "invalid"))]
    return cls(
        status,
        str(body.get("title") or phrase),
        None if detail is None else str(detail),
        type=str(body.get("type") or "about:blank"),
        instance=body.get("instance") if isinstance(body.get("instance"), str) else None,
        errors=tuple(errors),
        retry_after=retry_after,
    )


def _field_error(item: Any) -> FieldError | None:
    if not isinstance(item, Mapping):
        return None
    reason = str(item.get("reason") or item.get("message") or item.get("msg") or "invalid")
    if "field" in item:
        return FieldError(str(item["field"]), reason)
    loc = [str(part) for part in item.get("loc") or []]
    if len(loc) > 1 and loc[0] in REQUEST_PARTS:
        loc = loc[1:]
    return FieldError(".".join(loc) or "body", reason)


def _retry_after(value: str | None) -> float | None:
    """Seconds from ``Retry-After``; an HTTP date or garbage gives no hint."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
