"""Migrations: the hand-written 0001 matches ``app/db/models.py`` exactly, on PostgreSQL
and SQLite; an un-migrated database is refused with the command to run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.command import downgrade
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from app.db.migrate import (
    DatabaseNotMigrated,
    alembic_config,
    current_revision,
    ensure_at_head,
    head_revision,
    upgrade_to_head,
)
from app.db.models import Base
from app.db.session import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    engine = make_engine(fresh_database_url)
    yield engine
    engine.dispose()


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_to_head_builds_exactly_the_models_schema(
    fresh_database_url: str, engine: Engine
) -> None:
    # when
    upgrade_to_head(fresh_database_url)

    # then: autogenerate finds nothing to change, and the revision is the head
    assert schema_differences(engine) == []
    assert current_revision(engine) == head_revision()
    ensure_at_head(engine)
    # and: running it again is a no-op
    upgrade_to_head(fresh_database_url)
    assert current_revision(engine) == head_revision()


def test_the_comparison_would_notice_a_difference(fresh_database_url: str, engine: Engine) -> None:
    # given: a migrated database that then lost an index
    upgrade_to_head(fresh_database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_jobs_status"))

    # when
    differences = schema_differences(engine)

    # then
    assert any("ix_jobs_status" in repr(d) for d in differences), differences


def test_an_unmigrated_database_is_refused_with_the_command_to_run(engine: Engine) -> None:
    # when / then
    with pytest.raises(DatabaseNotMigrated, match="relearn db upgrade") as caught:
        ensure_at_head(engine)
    assert caught.value.current is None


def test_downgrade_to_base_removes_everything(fresh_database_url: str, engine: Engine) -> None:
    # given
    upgrade_to_head(fresh_database_url)

    # when
    downgrade(alembic_config(fresh_database_url), "base")

    # then
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(engine) is None
