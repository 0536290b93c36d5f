"""Fault: the database (a PostgreSQL cluster of the test's own) crashes (immediate stop)
while chunks are being uploaded and while a worker is publishing a version, and starts
again a few seconds later. Meanwhile the API answers 503 + Retry-After; afterwards every
accepted chunk is applied once, in order, and no version is left half made."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.faults import (
    FAST_RECOVERY,
    Answers,
    assert_no_lost_work,
    settings_of,
    upload,
    wait_running,
)
from tests.e2e.restartable import PostgresCluster
from tests.e2e.service import Service, stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.services]

CHUNKS = 6
OUTAGE_SECONDS = 3.0


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def scaled_env(
    tmp_path: Path, postgres: PostgresCluster, redis_url: str, s3_bucket: str, s3_server: str
) -> dict[str, str]:
    env = stack_env(
        tmp_path / "home",
        database_url=postgres.url,
        broker_url=redis_url,
        storage_url=s3_bucket,
        s3_endpoint=s3_server,
    )
    return env | FAST_RECOVERY


def test_a_database_crash_during_uploads_and_a_publish_loses_nothing(
    scaled_env: dict[str, str], scaled_service: Service, postgres: PostgresCluster
) -> None:
    # given: a model wide enough that writing a version's objects takes a while, so that
    # a crash once its fit is done (progress 0.99) finds the worker writing or publishing
    answers = Answers()
    body = model_body("crashed-db", {"name": "er", "params": {"memory_size": 50}}, epochs=4)
    body["architecture"]["params"]["hidden"] = [1024, 1024]
    chunks = class_incremental_chunks(CHUNKS, n=300)
    accepted: list[dict] = []
    with answers.client(scaled_service) as client:
        model_id = client.post("/v1/models", json=body).json()["id"]
        accepted += [upload(client, model_id, chunk) for chunk in chunks[:2]]
        wait_running(client, accepted[1]["job_id"], progress=0.99)

        # when: the database crashes with an upload stream under way, and comes back
        def upload_the_rest() -> None:
            with answers.client(scaled_service) as uploads:
                for chunk in chunks[2:]:
                    accepted.append(upload(uploads, model_id, chunk))
                    time.sleep(0.2)

        uploader = threading.Thread(target=upload_the_rest)
        uploader.start()
        postgres.crash()
        down = client.get("/healthz")
        time.sleep(OUTAGE_SECONDS)
        postgres.start()
        uploader.join(120)
        assert not uploader.is_alive(), "uploads never went through"

        # then: while it was down the API said so, 503 + Retry-After
        assert down.status_code == 503 and int(down.headers["retry-after"]) > 0
        assert answers.unavailable() > 1  # the health check, and an upload at least
        # and every accepted chunk is applied once, in order, every version complete
        assert_no_lost_work(
            answers, client, scaled_service, settings_of(scaled_env),
            model_id=model_id, body=body, accepted=accepted, chunks=chunks,
        )  # fmt: skip
        # and the attempt the crash interrupted after its fit ran again
        assert client.get(f"/v1/jobs/{accepted[1]['job_id']}").json()["attempts"] >= 2
