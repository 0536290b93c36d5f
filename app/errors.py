"""The one error family of the service layer.

Services raise these; one exception handler (``app/api/problems.py``) turns each into an
RFC 9457 ``application/problem+json`` response. A service never builds HTTP responses and
never raises HTTP exceptions itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One invalid field: a dotted path into the request (``updater.params.alpha``,
    ``file.y_eval``) and why it is invalid."""

    field: str
    reason: str


class DomainError(Exception):
    """Base of every error a client can cause or must know about.

    ``status`` and ``title`` are fixed per subclass; ``detail`` says what happened in this
    occurrence; ``field`` names the offending input when there is one.
    """

    status: int = 400
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if errors is None:
            # "file.y: labels must be >= 0" names its field once: as the field, not the reason.
            reason = detail.removeprefix(f"{field}: ")
            errors = [FieldError(field, reason)] if field is not None else []
        self.errors = errors
        self.field = field if field is not None else (self.errors[0].field if self.errors else None)
        self.headers = headers or {}


class BadRequest(DomainError):
    status = 400
    title = "Bad request"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Gone(DomainError):
    """It existed but was removed for good (a version pruned by the model's retention)."""

    status = 410
    title = "Gone"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class InvalidInput(DomainError):
    """The request is well-formed but a field's value is not acceptable (HTTP 422)."""

    status = 422
    title = "Invalid input"

    @classmethod
    def from_errors(cls, errors: list[FieldError]) -> InvalidInput:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return cls(f"{first.field}: {first.reason}{more}", errors=errors)


RETRY_AFTER_SECONDS = 5


class ServiceUnavailable(DomainError):
    """A backing service (database, object store) cannot be reached; retry later. The
    answer says when, in ``Retry-After``."""

    status = 503
    title = "Service unavailable"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            detail,
            field=field,
            errors=errors,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)} | (headers or {}),
        )
