"""Reaching the test services: free ports, and a service that is down skips or fails.

A service that is down makes its tests *skip with the reason* on a developer machine and
*fail* under ``CI=true``: CI must never hide a missing service behind a skip.
"""

from __future__ import annotations

import os
import socket

import pytest

IN_CI = os.environ.get("CI") == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "RELEARN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RELEARN_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def require_service(name: str, reachable: bool, detail: str) -> None:
    if reachable:
        return
    message = f"{name} is not reachable ({detail})"
    if IN_CI:
        pytest.fail(f"{message}: CI needs it; `make test` should have started it")
    pytest.skip(f"{message}: start it or run `make test`")


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
