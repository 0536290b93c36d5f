"""Aliases: names (``production``, ``staging``) that point at one version of a model.

Set by people (``PUT``) and by the promotion gate in the worker's publish transaction;
both write through ``point_alias``, an upsert, so two writers at the same moment both
succeed and the later commit wins — never a duplicate-key error. ``latest`` is the
model's newest version, reserved; a name that is all digits would read as a version
number, so it is refused too.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db.models import Alias, ModelVersion, utcnow
from app.errors import Gone, InvalidInput, NotFound
from app.services.models import get_model
from app.services.pages import Page, PageRequest

ALIAS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,99}")
RESERVED = frozenset({"latest"})


def check_alias_name(name: str, field: str = "alias") -> str:
    """422 unless ``name`` can be an alias (and so never reads as a number or ``latest``)."""
    if not ALIAS_NAME.fullmatch(name):
        raise InvalidInput(
            f"{field}: an alias is 1-100 letters, digits, '_', '-' or '.', starting with a "
            f"letter; got {name[:40]!r}",
            field=field,
        )
    if name in RESERVED:
        raise InvalidInput(f"{field}: {name!r} is reserved (the newest version)", field=field)
    return name


def point_alias(session: Session, *, model_id: str, name: str, version: int) -> None:
    """Insert or move the alias (no commit: the caller's transaction decides)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    statement = insert(Alias).values(model_id=model_id, name=name, version=version, updated_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Alias.model_id, Alias.name],
            set_={"version": version, "updated_at": now},
        )
    )


def set_alias(*, session: Session, model_id: str, name: str, version: int) -> Alias:
    model = get_model(session=session, model_id=model_id)
    check_alias_name(name)
    target = session.get(ModelVersion, (model.id, version))
    if target is None:
        raise NotFound(f"version: model {model.id} has no version {version}", field="version")
    if target.pruned_at is not None:
        raise Gone(
            f"version: version {version} was removed by the model's retention",
            field="version",
        )
    point_alias(session, model_id=model.id, name=name, version=version)
    session.commit()
    alias = session.get(Alias, (model.id, name), populate_existing=True)
    assert alias is not None
    return alias


def delete_alias(*, session: Session, model_id: str, name: str) -> None:
    model = get_model(session=session, model_id=model_id)
    gone = session.execute(
        delete(Alias).where(Alias.model_id == model.id, Alias.name == name).returning(Alias.name)
    ).first()
    session.commit()
    if gone is None:
        raise NotFound(f"alias: model {model.id} has no alias {name[:100]!r}", field="alias")


def list_aliases(
    *, session: Session, model_id: str, page: PageRequest | None = None
) -> Page[Alias]:
    model = get_model(session=session, model_id=model_id)
    page = page or PageRequest()
    query = select(Alias).where(Alias.model_id == model.id)
    if page.cursor is not None:
        query = query.where(Alias.name > page.cursor)
    rows = list(session.scalars(query.order_by(Alias.name).limit(page.limit + 1)))
    return Page.of(rows, page.limit, lambda a: a.name)


def aliases_by_version(session: Session, model_id: str) -> dict[int, list[str]]:
    """Each version's aliases (sorted), for the versions a page shows."""
    found: dict[int, list[str]] = {}
    rows = session.execute(
        select(Alias.version, Alias.name).where(Alias.model_id == model_id).order_by(Alias.name)
    )
    for version, name in rows:
        found.setdefault(version, []).append(name)
    return found


def resolve_alias(session: Session, model_id: str, name: str) -> int | None:
    return session.scalar(
        select(Alias.version).where(Alias.model_id == model_id, Alias.name == name)
    )
