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
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_to_head
from tests.api.harness import MAX_CHUNK_BYTES, Api, embedded_settings, empty_tables


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


@pytest.fixture(params=["embedded", pytest.param("services", marks=pytest.mark.services)])
def api_settings(request: pytest.FixtureRequest, relearn_home: Path) -> Settings:
    if request.param == "embedded":
        settings = embedded_settings(relearn_home)
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
