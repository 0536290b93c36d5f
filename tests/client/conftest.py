"""Client fixtures: the service as a user runs it, and a ``relearn.Client`` on it.

``relearn serve`` (API + one Celery worker on the embedded defaults: SQLite, a local
object folder, kombu's filesystem broker) runs once for the session in a process of its
own, as in the end-to-end tests; each test makes its own models (unique names), so they
do not see each other's. ``capabilities`` reads the server's OpenAPI, so that tests of
endpoints other issues add (aliases, pagination, pretrained weights) run once they exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from relearn import Client
from tests.client.capabilities import Capabilities
from tests.e2e.service import Service, embedded_serve


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with embedded_serve(tmp_path_factory.mktemp("client-service")) as service:
        yield service


@pytest.fixture(scope="session")
def home(service: Service) -> Path:
    """The served RELEARN_HOME (its ``objects`` folder holds the artifacts)."""
    return Path(service.processes.env["RELEARN_HOME"])


@pytest.fixture(scope="session")
def capabilities(service: Service) -> Capabilities:
    return Capabilities(httpx.get(f"{service.url}/openapi.json", timeout=30).json())


@pytest.fixture
def client(service: Service, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    for name in ("RELEARN_URL", "RELEARN_API_KEY", "RELEARN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    with Client(service.url, timeout=30) as c:
        yield c


@pytest.fixture
def name() -> str:
    """A model name no other test uses (names are unique per server)."""
    return f"client-{uuid.uuid4().hex[:10]}"
