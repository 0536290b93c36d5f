"""Fault: object storage (moto's server, the test's own) is stopped (its address refuses
connections) or hung (SIGSTOP: connections accepted, nothing answered) while a worker
writes a version and while a chunk is uploaded. The upload is a 503 + Retry-After that
leaves no trace, reads of stored bytes are 503s, metadata still answers; once the store is
back every accepted chunk is applied once, in order, and every version is complete."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.faults import (
    FAST_RECOVERY,
    Answers,
    assert_attempt_met_the_fault,
    assert_no_lost_work,
    settings_of,
    upload,
    wait_running,
)
from tests.e2e.restartable import S3, s3_server
from tests.e2e.service import Service, stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.services]

CHUNKS = 5
OUTAGE_SECONDS = 4.0  # at least: longer than the worker's way to its writes


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = s3_server(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def scaled_env(tmp_path: Path, postgres_url: str, redis_url: str, s3: S3) -> dict[str, str]:
    bucket = f"relearn-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(bucket)
    env = stack_env(
        tmp_path / "home",
        database_url=postgres_url,
        broker_url=redis_url,
        storage_url=f"s3://{bucket}/objects",
        s3_endpoint=s3.url,
    )
    return env | FAST_RECOVERY


def break_store(s3: S3, fault: str) -> None:
    if fault == "stopped":
        s3.forwarder.kill()
    else:
        s3.moto.hang()


def mend_store(s3: S3, fault: str) -> None:
    if fault == "stopped":
        s3.forwarder.start()
    else:
        s3.moto.resume()


@pytest.mark.parametrize("fault", ["stopped", "hung"])
def test_an_object_store_outage_during_a_publish_and_an_upload_loses_nothing(
    fault: str, scaled_env: dict[str, str], scaled_service: Service, s3: S3
) -> None:
    # given: a model wide enough that writing a version's objects takes a while, and a
    # job whose fit is done (progress 0.99): the worker is about to write its version
    answers = Answers()
    body = model_body(f"s3-{fault}", {"name": "er", "params": {"memory_size": 50}}, epochs=4)
    body["architecture"]["params"]["hidden"] = [1024, 1024]
    chunks = class_incremental_chunks(CHUNKS, n=300)
    with answers.client(scaled_service) as client:
        model_id = client.post("/v1/models", json=body).json()["id"]
        accepted = [upload(client, model_id, chunk) for chunk in chunks[:2]]
        wait_running(client, accepted[1]["job_id"], progress=0.99)

        # when: the store fails, and meanwhile a chunk is uploaded and version 0 is read
        break_store(s3, fault)
        broken_at = time.monotonic()
        refused = client.post(
            f"/v1/models/{model_id}/chunks", files={"file": ("c.npz", chunks[2].npz())}
        )
        download = client.get(f"/v1/models/{model_id}/versions/0/artifact")
        listed = client.get(f"/v1/models/{model_id}/versions")
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - broken_at)))
        mend_store(s3, fault)

        # then: the upload and the download were 503 + Retry-After, the metadata answered
        for answer in (refused, download):
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["retry-after"]) > 0
        assert listed.status_code == 200
        # and the refused upload left no trace, even once the store answers again
        time.sleep(1)
        assert client.get(f"/v1/models/{model_id}").json()["chunk_count"] == 2

        # and when the rest are uploaded, all is applied once, in order, complete
        accepted += [upload(client, model_id, chunk) for chunk in chunks[2:]]
        assert_no_lost_work(
            answers, client, scaled_service, settings_of(scaled_env),
            model_id=model_id, body=body, accepted=accepted, chunks=chunks,
        )  # fmt: skip
    # and the attempt that met the outage while writing its version was retried
    assert_attempt_met_the_fault(scaled_service, accepted[1]["job_id"])
