"""API keys: made, listed, revoked, and a presented key resolved to its tenant.

A key is 32 random bytes (``secrets``), shown once; the database keeps its sha256. A slow
password hash (bcrypt, argon2) defends guessable secrets against offline guessing; a
256-bit random key cannot be guessed, so a fast hash is as safe, and it lets every request
find its key by an indexed lookup of the hash instead of running bcrypt per request. The
lookup is by hash, so the timing of the query says nothing about the stored key, and the
found hash is compared again with ``hmac.compare_digest`` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.db.models import ApiKey, utcnow
from app.errors import InvalidInput, NotFound

KEY_PREFIX = "rlk_"
SHOWN_CHARS = 12  # "rlk_" and 8 characters: enough to tell keys apart in a list
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``secret`` is shown to its owner once and never stored."""

    row: ApiKey
    secret: str


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(*, session: Session, tenant: str) -> NewKey:
    if not TENANT_PATTERN.fullmatch(tenant):
        raise InvalidInput(
            "tenant: 1-100 characters of letters, digits, '.', '_' or '-'", field="tenant"
        )
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(key_hash=key_hash(secret), prefix=secret[:SHOWN_CHARS], tenant=tenant)
    session.add(row)
    session.commit()
    return NewKey(row=row, secret=secret)


def list_keys(*, session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(*, session: Session, key_id: str) -> ApiKey:
    """Revoke by id or by the shown prefix; the row stays (see ``ApiKey``)."""
    rows = list(
        session.scalars(select(ApiKey).where((ApiKey.id == key_id) | (ApiKey.prefix == key_id)))
    )
    if len(rows) != 1:
        raise NotFound(f"no single key {key_id!r}", field="key_id")
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return row


def any_key_exists(*, session: Session) -> bool:
    """True once a key was ever made, revoked or not."""
    return bool(session.scalar(select(exists().where(ApiKey.id.is_not(None)))))


def tenant_of(*, session: Session, secret: str) -> str | None:
    """The tenant of a live key, None for an unknown or revoked one."""
    digest = key_hash(secret)
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash.encode(), digest.encode()):
        return None
    return row.tenant
