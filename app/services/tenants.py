"""Which tenant a database session acts for, and what that tenant may see.

The API puts the tenant of the request's key into ``session.info`` (``app/api/deps.py``);
model lookups filter by it, so a model of another tenant is 404 on every endpoint that
finds models through ``get_model``. A session without a tenant (the worker, the CLI's
admin commands, an API without keys) sees every model.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db.models import DEFAULT_TENANT

TENANT_INFO = "tenant"


def session_tenant(session: Session) -> str | None:
    tenant = session.info.get(TENANT_INFO)
    return tenant if isinstance(tenant, str) else None


def may_see(session: Session, model_tenant: str) -> bool:
    tenant = session_tenant(session)
    return tenant is None or tenant == model_tenant


def owner_for_new_model(session: Session) -> str:
    return session_tenant(session) or DEFAULT_TENANT
