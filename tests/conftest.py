"""Shared fixtures: real services (PostgreSQL, Redis, moto's S3 server) and settings.

A service that is down skips its tests, or fails them under ``CI=true`` (``make test``
starts the services first); see ``tests/services.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import POSTGRES_ADMIN_URL, REDIS_URL, free_port, require_service, tcp_open


@pytest.fixture(scope="session")
def postgres_server() -> str:
    require_service("PostgreSQL", tcp_open("127.0.0.1", 5432), POSTGRES_ADMIN_URL)
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"relearn_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of its own (flushed before and after) for one test."""
    require_service("Redis", tcp_open("127.0.0.1", 6379), REDIS_URL)
    import redis

    db = 1 + (uuid.uuid4().int % 14)
    url = f"{REDIS_URL}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server over real HTTP on a free loopback port."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the moto server; returns its ``s3://`` URL."""
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    name = f"relearn-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    return f"s3://{name}/objects"


@pytest.fixture
def relearn_home(tmp_path: Path) -> Path:
    home = tmp_path / "relearn-home"
    home.mkdir()
    return home


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests run where CUDA is; elsewhere (CI has no GPU) they skip, saying why."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; CI has none (run on the GPU box)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
