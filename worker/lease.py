"""The per-model update lease: one worker at a time updates a model.

A lease is a (owner, expiry) pair on the model row, taken and renewed by conditional
UPDATEs, so it works the same on PostgreSQL and SQLite and across machines. A worker that
dies stops renewing; its lease expires and another worker takes over the model's queue.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, update
from sqlalchemy.orm import Session

from app.db.models import Model, utcnow


def try_acquire(*, session: Session, model_id: str, owner: str, seconds: float) -> bool:
    """Take the lease if it is free, expired or already ours; False if another holds it."""
    now = utcnow()
    result = session.execute(
        update(Model)
        .where(
            Model.id == model_id,
            or_(
                Model.lease_owner.is_(None),
                Model.lease_owner == owner,
                Model.lease_expires_at < now,
            ),
        )
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds))
    )
    return cast(CursorResult[Any], result).rowcount == 1


def renew(*, session: Session, model_id: str, owner: str, seconds: float) -> bool:
    """Extend the lease; False if it was lost (expired and taken by another worker)."""
    result = session.execute(
        update(Model)
        .where(Model.id == model_id, Model.lease_owner == owner)
        .values(lease_expires_at=utcnow() + timedelta(seconds=seconds))
    )
    return cast(CursorResult[Any], result).rowcount == 1


def release(*, session: Session, model_id: str, owner: str) -> None:
    session.execute(
        update(Model)
        .where(Model.id == model_id, Model.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )
