"""Fault: the broker (a Redis of the test's own, without persistence) is killed while jobs
are queued, chunks are uploaded while it is down, and it comes back empty. The queued
messages are gone; the database still knows every job, and the workers' reconciler sends
their work again. Nothing accepted is lost, and the API never answered 5xx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.faults import FAST_RECOVERY, Answers, assert_no_lost_work, settings_of, upload
from tests.e2e.restartable import Daemon, redis_server
from tests.e2e.service import Service, stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.services]

MODELS = ("a", "b", "c")  # two workers: one model's messages only wait in Redis


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Daemon]:
    server = redis_server(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def scaled_env(
    tmp_path: Path, postgres_url: str, s3_bucket: str, s3_server: str, redis: Daemon
) -> dict[str, str]:
    env = stack_env(
        tmp_path / "home",
        database_url=postgres_url,
        broker_url=f"redis://127.0.0.1:{redis.port}/0",
        storage_url=s3_bucket,
        s3_endpoint=s3_server,
    )
    return env | FAST_RECOVERY


def test_a_broker_restart_loses_no_queued_job(
    scaled_env: dict[str, str], scaled_service: Service, redis: Daemon
) -> None:
    # given: three models with two accepted chunks each, more than two workers take at once
    answers = Answers()
    bodies = {
        key: model_body(key, {"name": "er", "params": {"memory_size": 30}}, epochs=40, seed=i)
        for i, key in enumerate(MODELS)
    }
    data = {key: class_incremental_chunks(3, n=500, seed=i) for i, key in enumerate(MODELS)}
    with answers.client(scaled_service) as client:
        ids = {key: client.post("/v1/models", json=bodies[key]).json()["id"] for key in MODELS}
        accepted = {
            key: [upload(client, ids[key], data[key][i]) for i in range(2)] for key in MODELS
        }

        # when: Redis dies with messages queued, a chunk per model arrives while it is down,
        # and a Redis with nothing in it comes back
        redis.kill()
        for key in MODELS:
            accepted[key].append(upload(client, ids[key], data[key][2]))
            assert client.get(f"/v1/models/{ids[key]}").status_code == 200
        time.sleep(2)
        redis.start()

        # then: every model has every accepted chunk applied once, in order, and no 5xx
        for key in MODELS:
            assert_no_lost_work(
                answers, client, scaled_service, settings_of(scaled_env),
                model_id=ids[key], body=bodies[key], accepted=accepted[key], chunks=data[key],
            )  # fmt: skip
        # and a broker outage never made the API unavailable
        assert answers.unavailable() == 0
