"""The service as users run it: real processes, real broker, database and storage.

- ``embedded_service``: ``relearn serve`` with no configuration but ``RELEARN_HOME`` and
  ``RELEARN_PORT`` (SQLite, a local folder, kombu's filesystem broker, one worker).
- ``scaled_service``: PostgreSQL + Redis + S3 (moto's server over HTTP), the API under
  uvicorn and two ``relearn worker`` processes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import Processes, wait_http
from tests.e2e.service import Service, embedded_serve, stack_env
from tests.services import free_port


@pytest.fixture
def embedded_service(tmp_path: Path) -> Iterator[Service]:
    with embedded_serve(tmp_path, timeout=90) as service:
        yield service


@pytest.fixture
def scaled_env(
    tmp_path: Path, postgres_url: str, redis_url: str, s3_bucket: str, s3_server: str
) -> dict[str, str]:
    return stack_env(
        tmp_path / "home",
        database_url=postgres_url,
        broker_url=redis_url,
        storage_url=s3_bucket,
        s3_endpoint=s3_server,
    )


@pytest.fixture
def scaled_service(tmp_path: Path, scaled_env: dict[str, str]) -> Iterator[Service]:
    port = free_port()
    processes = Processes(tmp_path, scaled_env)
    api = processes.start(
        "api",
        sys.executable, "-m", "uvicorn", "--factory", "app.api.main:create_app",
        "--host", "127.0.0.1", "--port", str(port),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", api)
        processes.start_worker("worker-1")
        processes.start_worker("worker-2")
        yield Service(url, processes)
    finally:
        processes.stop_all()
