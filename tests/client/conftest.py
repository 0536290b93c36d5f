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
from tests.e2e.processes import BIN, Processes, wait_http
from tests.e2e.service import Service, base_env
from tests.services import free_port


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("client-service")
    port = free_port()
    env = base_env(folder / "home") | {"RELEARN_PORT": str(port)}
    processes = Processes(folder, env)
    server = processes.start("serve", str(BIN / "relearn"), "serve")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", server, timeout=120)
        yield Service(url, processes)
    finally:
        processes.stop_all()


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
