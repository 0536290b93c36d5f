"""API fixtures: the app through HTTP (TestClient) against real backends, twice:

- ``embedded``: SQLite file, local object folder and kombu's filesystem broker, all under
  ``relearn_home`` (what ``relearn serve`` runs with no configuration);
- ``services``: PostgreSQL, S3 on moto's server over HTTP, and Redis as the broker.

Databases are migrated with ``upgrade_to_head``, as ``relearn db upgrade`` would: the
SQLite file per test, the PostgreSQL database once per session (emptied before each test).
No worker runs: tests look at the broker (Redis list / broker folder) to see what was sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.db.models import Base
from app.db.session import make_engine
from app.storage import ObjectStore
from tests.api.payloads import model_body

# Small enough that the 413 tests stay fast; every valid test chunk is far below it.
MAX_CHUNK_BYTES = 256 * 1024


@dataclass
class Api:
    """One running app and handles on the backends behind it."""

    client: TestClient
    settings: Settings
    backend: str

    @property
    def store(self) -> ObjectStore:
        return self.client.app.state.store  # type: ignore[attr-defined]

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.client.app.state.sessions  # type: ignore[attr-defined]

    def count(self, row: type[Base], **where: Any) -> int:
        with self.sessions() as session:
            query = select(func.count()).select_from(row).filter_by(**where)
            return int(session.scalar(query) or 0)

    def objects(self, prefix: str = "models") -> list[str]:
        return self.store.list(prefix)

    def broker_messages(self) -> int:
        """Messages waiting in the work queue (no worker consumes them here)."""
        if self.settings.is_embedded_broker:
            return len(list((self.settings.broker_folder / "queue").glob("*.msg")))
        import redis

        client = redis.Redis.from_url(str(self.settings.broker_url))
        try:
            return int(client.llen(self.settings.queue_name))
        finally:
            client.close()

    def create_model(self, **overrides: Any) -> dict[str, Any]:
        response = self.client.post("/v1/models", json=model_body(**overrides))
        assert response.status_code == 201, response.text
        return response.json()


def embedded_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "database_url": None,
        "storage_url": None,
        "broker_url": None,
        "max_chunk_bytes": MAX_CHUNK_BYTES,
    }
    return Settings(**(values | overrides))


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: str) -> Iterator[str]:
    """One PostgreSQL database for the API tests, migrated once (creating and migrating a
    database per test would cost about a second each); each test starts from empty tables."""
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    name = f"relearn_api_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade_to_head(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty_tables(database_url: str) -> None:
    """DELETE, children first (much faster than TRUNCATE on a few small tables)."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()


@pytest.fixture(params=["embedded", pytest.param("services", marks=pytest.mark.services)])
def api_settings(request: pytest.FixtureRequest, relearn_home: Path) -> Settings:
    if request.param == "embedded":
        settings = embedded_settings(relearn_home)
        assert settings.database_url is not None
        upgrade_to_head(settings.database_url)
        return settings
    database_url = request.getfixturevalue("migrated_postgres")
    empty_tables(database_url)
    return Settings(
        home=relearn_home,
        database_url=database_url,
        storage_url=request.getfixturevalue("s3_bucket"),
        s3_endpoint_url=request.getfixturevalue("s3_server"),
        broker_url=request.getfixturevalue("redis_url"),
        max_chunk_bytes=MAX_CHUNK_BYTES,
    )


@pytest.fixture
def api(api_settings: Settings, request: pytest.FixtureRequest) -> Iterator[Api]:
    backend = "embedded" if api_settings.is_sqlite else "services"
    with TestClient(create_app(api_settings)) as client:
        yield Api(client=client, settings=api_settings, backend=backend)
