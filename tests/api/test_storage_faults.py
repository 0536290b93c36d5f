"""Object storage down or hung: the API answers 503 + Retry-After within its timeouts,
records nothing, and works again once the store is back.

Each test runs its own moto S3 server in a process of its own (never the shared one), so
that it can stop it (SIGKILL: connections refused) or hang it (SIGSTOP: connections are
accepted by the kernel, then nothing answers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.db.models import Chunk
from app.storage import StorageUnavailable, store_from_settings
from tests.api.harness import MAX_CHUNK_BYTES, Api
from tests.api.jobs_helpers import post_chunk, submit
from tests.api.payloads import chunk_arrays, model_body, npz_bytes
from tests.api.published import publish_version
from tests.services import free_port, tcp_open

# Tight timeouts so that a hung store is given up on within a few seconds. The upload
# deadline is long: small requests must end by their read timeout alone.
TIMEOUTS = {
    "s3_connect_timeout_seconds": 1.0,
    "s3_read_timeout_seconds": 1.0,
    "s3_max_attempts": 2,
    "s3_put_deadline_seconds": 60.0,
}
# Attempts × read timeout, backoff, and a margin for a loaded machine.
ANSWER_WITHIN_SECONDS = 15.0


@dataclass
class S3Process:
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while not tcp_open("127.0.0.1", self.port):
            assert time.monotonic() < deadline, "moto's server did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process cannot die
            self.process.kill()
            self.process.wait()
            self.process = None

    def hang(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.url, region_name="us-east-1").create_bucket(
            Bucket=name
        )


@pytest.fixture
def own_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Process]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    s3 = S3Process(port=free_port())
    s3.start()
    try:
        yield s3
    finally:
        s3.kill()


def s3_settings(s3: S3Process, home: Path, **overrides: Any) -> Settings:
    bucket = f"relearn-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(bucket)
    values: dict[str, Any] = {
        "home": home,
        "database_url": None,
        "broker_url": None,
        "storage_url": f"s3://{bucket}/objects",
        "s3_endpoint_url": s3.url,
        "max_chunk_bytes": MAX_CHUNK_BYTES,
    }
    return Settings(**(values | TIMEOUTS | overrides))


@pytest.fixture
def s3_api(own_s3: S3Process, relearn_home: Path) -> Iterator[Api]:
    settings = s3_settings(own_s3, relearn_home)
    upgrade_to_head(settings.database_url)
    with TestClient(create_app(settings)) as client:
        yield Api(client=client, settings=settings, backend="own-s3")


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert elapsed < ANSWER_WITHIN_SECONDS


def test_a_hung_store_is_a_503_within_the_timeouts_and_then_recovers(
    s3_api: Api, own_s3: S3Process
) -> None:
    # given: a model with one chunk and a published version, then the store hangs
    api = s3_api
    model = api.client.post("/v1/models", json=model_body()).json()
    job_id = submit(api, model["id"])
    number = publish_version(api, model["id"], job_id, [0.5], weights=b"the weights")
    artifact = f"/v1/models/{model['id']}/versions/{number}/artifact"
    own_s3.hang()

    # when: an upload and a download while it is hung
    upload, upload_took = timed(lambda: post_chunk(api, model["id"], npz_bytes(chunk_arrays())))
    download, download_took = timed(lambda: api.client.get(artifact))

    # then: 503s, in bounded time, and no trace of the upload
    assert_unavailable(upload, upload_took)
    assert_unavailable(download, download_took)
    assert api.count(Chunk) == 1
    assert api.client.get(f"/v1/models/{model['id']}").json()["chunk_count"] == 1

    # and when the store answers again, so does the API
    own_s3.resume()
    assert post_chunk(api, model["id"], npz_bytes(chunk_arrays(seed=3))).status_code == 202
    recovered = api.client.get(artifact)
    assert recovered.status_code == 200 and recovered.content == b"the weights"


def test_a_stopped_store_is_a_503_at_once_and_then_recovers(s3_api: Api, own_s3: S3Process) -> None:
    # given: a model, then the store's process is gone (connections refused)
    api = s3_api
    model = api.client.post("/v1/models", json=model_body()).json()
    bucket = api.settings.storage_url.removeprefix("s3://").split("/")[0]
    own_s3.kill()

    # when
    upload, took = timed(lambda: post_chunk(api, model["id"], npz_bytes(chunk_arrays())))

    # then
    assert_unavailable(upload, took)
    assert api.count(Chunk) == 0

    # and when a store is back on the same address
    own_s3.start()
    own_s3.create_bucket(bucket)
    assert post_chunk(api, model["id"], npz_bytes(chunk_arrays())).status_code == 202
    assert api.count(Chunk) == 1


def test_an_upload_that_stalls_on_a_hung_store_ends_at_its_deadline(
    own_s3: S3Process, relearn_home: Path, tmp_path: Path
) -> None:
    # given: 15 MiB to upload in one PUT (under two parts), more than the socket buffers
    # take in, with a deadline of 3 s plus the size at 100 MiB/s. Read timeouts cannot help
    # while the body is still being sent: without the deadline this waits forever.
    settings = s3_settings(
        own_s3, relearn_home, s3_put_deadline_seconds=3.0, s3_put_min_bytes_per_second=100 << 20
    )
    store = store_from_settings(settings)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(15 << 20))
    store.put_bytes(b"warm", "warm")
    own_s3.hang()

    # when
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        store.put_file(big, "big")

    # then
    assert time.monotonic() - started < 3.0 + 0.5 + 5.0  # the deadline, and a margin
