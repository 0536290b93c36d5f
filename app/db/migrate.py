"""Schema migrations, programmatically: what ``relearn db upgrade`` runs, and the start-up
check that refuses to serve (or work) against a database that is not at the latest schema.
"""

from __future__ import annotations

from pathlib import Path

from alembic.command import upgrade
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
ALEMBIC_DIR = REPO_ROOT / "alembic"
UPGRADE_COMMAND = "relearn db upgrade"


class DatabaseNotMigrated(RuntimeError):
    """The database schema is missing or older/newer than this code's migrations."""

    def __init__(self, current: str | None, head: str) -> None:
        state = "has no relearn schema" if current is None else f"is at revision {current}"
        super().__init__(
            f"The database {state}, but this code needs revision {head}. "
            f"Run `{UPGRADE_COMMAND}` (with the same RELEARN_DATABASE_URL) and start again."
        )
        self.current = current
        self.head = head


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic's config for our migrations; the URL travels as an attribute (never through
    the ini file, whose interpolation would mangle a ``%`` in a password)."""
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(database_url: str) -> None:
    """Migrate the database to the latest schema (a no-op when it is there already)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    upgrade(alembic_config(database_url), "head")


def ensure_at_head(engine: Engine) -> None:
    """Raise ``DatabaseNotMigrated`` unless the database is at the latest revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise DatabaseNotMigrated(current, head)
