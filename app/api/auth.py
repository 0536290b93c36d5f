"""Bearer API keys on every ``/v1`` request (README, "Running it safely").

``RELEARN_AUTH=auto`` (the default) asks for a key once any key was made; ``required``
always asks; ``off`` never does. A request without a valid key gets a 401 problem with
``WWW-Authenticate: Bearer``. The key's tenant is what the request may see.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from app.config import Settings
from app.errors import DomainError
from app.services.keys import any_key_exists, tenant_of

PROTECTED_PREFIX = "/v1"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="relearn"'})


@dataclass(frozen=True)
class Principal:
    """Who is asking: the tenant of their key, or None where no key is needed (sees all)."""

    tenant: str | None


OPEN = Principal(tenant=None)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def authenticate(request: Request) -> Principal:
    """The request's principal; 401 where a key is needed and none valid was sent."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    principal = _principal(request)
    request.state.principal = principal
    return principal


def _principal(request: Request) -> Principal:
    settings: Settings = request.app.state.settings
    if settings.auth == "off" or not request.url.path.startswith(PROTECTED_PREFIX):
        return OPEN
    token = bearer_token(request)
    with request.app.state.sessions() as session:
        if settings.auth == "auto" and not any_key_exists(session=session):
            return OPEN
        if token is None:
            raise Unauthorized("this API needs a key: send `Authorization: Bearer KEY`")
        tenant = tenant_of(session=session, secret=token)
    if tenant is None:
        raise Unauthorized("the API key is not valid (unknown or revoked)")
    return Principal(tenant=tenant)
