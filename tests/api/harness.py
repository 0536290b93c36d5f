"""The app under test (``Api``) with handles on its backends, and the settings it runs on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
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

        client = redis.Redis.from_url(self.settings.broker_url)
        try:
            return int(client.llen(self.settings.queue_name))
        finally:
            client.close()

    def create_model(self, *, ready: bool = True, **overrides: Any) -> dict[str, Any]:
        """Register a model and (``ready``) let the real job runner make its version 0, as
        a worker would; returns the 201 body."""
        from tests.api.initialised import make_version_zero

        response = self.client.post("/v1/models", json=model_body(**overrides))
        assert response.status_code == 201, response.text
        if ready:
            make_version_zero(self, response.json()["id"])
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


def empty_tables(database_url: str) -> None:
    """DELETE, children first (much faster than TRUNCATE on a few small tables)."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()
