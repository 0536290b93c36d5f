"""``relearn keys create|list|revoke``: API keys, managed on the database directly.

These are operator commands, like ``relearn db``: they use ``RELEARN_DATABASE_URL``, not
the HTTP API, so the first key can be made before anyone can reach the API. The key is
printed once (stdout, alone on its line, for scripts); only its sha256 is stored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.cli.output import fail, note, out
from app.config import Settings, get_settings

keys_app = typer.Typer(
    help="API keys: with any key made, every /v1 request needs `Authorization: Bearer KEY`.",
    no_args_is_help=True,
)
LOOPBACK_NAMES = ("localhost",)


@contextmanager
def database_session(settings: Settings) -> Iterator[Session]:
    from app.db.session import make_engine

    if settings.is_sqlite:
        from app.db.migrate import upgrade_to_head

        upgrade_to_head(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise fail(f"cannot use the database: {reason}") from exc
    finally:
        engine.dispose()


@keys_app.command("create")
def create(
    tenant: Annotated[
        str, typer.Option(help="Whose key: the models it makes and sees belong to this tenant.")
    ],
    if_none: Annotated[
        bool,
        typer.Option(
            "--if-none", help="Only if no key was ever made (first start of a deployment)."
        ),
    ] = False,
) -> None:
    """Make a key for TENANT and print it, once: it is not stored and cannot be shown again."""
    from app.errors import DomainError
    from app.services.keys import any_key_exists, create_key

    with database_session(get_settings()) as session:
        if if_none and any_key_exists(session=session):
            note("A key exists already: none made (`relearn keys list` shows them).")
            return
        try:
            new = create_key(session=session, tenant=tenant)
        except DomainError as exc:
            raise fail(exc.detail) from exc
    note(
        f"Key {new.row.prefix}… for tenant [bold]{tenant}[/] (id {new.row.id}). Store it now: "
        "it is shown only this once. Clients send it as RELEARN_API_KEY."
    )
    typer.echo(new.secret)


@keys_app.command("list")
def list_() -> None:
    """Every key: id, shown prefix, tenant, made, revoked."""
    from app.services.keys import list_keys

    with database_session(get_settings()) as session:
        rows = list_keys(session=session)
    for row in rows:
        revoked = row.revoked_at.isoformat() if row.revoked_at else "-"
        out().print(
            f"{row.id}  {row.prefix}…  {row.tenant}  {row.created_at.isoformat()}  "
            f"revoked: {revoked}",
            highlight=False,
        )
    if not rows:
        note("No keys: the API answers requests without a key (unless RELEARN_AUTH=required).")


@keys_app.command("revoke")
def revoke(key: Annotated[str, typer.Argument(help="The key's id or its shown prefix.")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from app.errors import DomainError
    from app.services.keys import revoke_key

    with database_session(get_settings()) as session:
        try:
            row = revoke_key(session=session, key_id=key)
        except DomainError as exc:
            raise fail(exc.detail) from exc
    note(f"Key {row.prefix}… of tenant {row.tenant} is revoked.")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(settings: Settings, host: str) -> str | None:
    """Why ``serve`` must not listen on ``host``: beyond loopback with no key made and
    ``RELEARN_AUTH`` not ``off`` would publish an open API. None where it may."""
    if is_loopback(host) or settings.auth == "off":
        return None
    from app.services.keys import any_key_exists

    with database_session(settings) as session:
        if any_key_exists(session=session):
            return None
    return (
        f"refusing to listen on {host} with no API key: anyone who reaches the port could "
        "read and change every model. Make a key (`relearn keys create --tenant NAME`), "
        "listen on 127.0.0.1, or set RELEARN_AUTH=off to serve an open API on purpose."
    )
