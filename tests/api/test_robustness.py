"""No input makes the API answer 5xx; outages of the broker or storage are survivable;
the app refuses an un-migrated database; health and docs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.db.migrate import DatabaseNotMigrated, upgrade_to_head
from app.db.models import Chunk, Job, JobKind
from tests.api.harness import Api, embedded_settings
from tests.api.jobs_helpers import post_chunk, submit
from tests.api.live_server import live_api
from tests.api.payloads import chunk_arrays, model_body, npz_bytes


def test_odd_paths_and_methods_get_4xx_problems(api: Api) -> None:
    # given
    model = api.create_model()
    base = f"/v1/models/{model['id']}"
    requests = [
        ("GET", "/v1/models/%00"),
        ("GET", "/v1/models/" + "a" * 5000),
        ("GET", "/v1/jobs/%00%ff"),
        ("GET", "/v1/jobs/'; DROP TABLE jobs;--"),
        ("GET", base + "/versions/%00"),
        ("GET", base + "/versions/1e3"),
        ("GET", base + "/versions/99999999999/artifact"),
        ("GET", base + "/versions/" + "9" * 5000),
        ("GET", base + "/versions/latest/artifact?format="),
        ("POST", base + "/versions"),
        ("DELETE", "/v1/jobs/" + "a" * 32),
        ("GET", "/v2/models"),
        ("POST", "/v1/jobs/%00/cancel"),
    ]

    # when
    responses = [api.client.request(method, path) for method, path in requests]

    # then
    for (method, path), response in zip(requests, responses, strict=True):
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
        assert response.headers["content-type"] == "application/problem+json", path
        assert response.json()["status"] == response.status_code
    not_allowed = responses[[path for _, path in requests].index(base + "/versions")]
    assert not_allowed.status_code == 405
    assert "GET" in not_allowed.headers["allow"]


def test_a_405_lists_every_method_of_its_path(api: Api) -> None:
    # given: a path served by two routes (GET lists chunks, POST uploads one)
    model = api.create_model()

    # when
    response = api.client.request("OPTIONS", f"/v1/models/{model['id']}/chunks")

    # then: RFC 9110's Allow names both, not only the first route's
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"] == "application/problem+json"


def test_an_oversized_json_body_is_413(api: Api) -> None:
    # given: 2 MiB of JSON, declared and undeclared (streamed) length
    body = model_body(name="x" * (2 * 1024 * 1024)).__repr__().encode()

    # when
    declared = api.client.post(
        "/v1/models", content=body, headers={"content-type": "application/json"}
    )
    streamed = api.client.post(
        "/v1/models",
        content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
        headers={"content-type": "application/json"},
    )

    # then
    assert declared.status_code == streamed.status_code == 413
    assert streamed.headers["content-type"] == "application/problem+json"


def send_until_closed(port: int, head: bytes, body_size: int) -> tuple[int, bytes]:
    """Send ``head`` then zeros up to ``body_size``, reading as we go; how many body bytes
    went out before the server closed the connection, and what it answered."""
    answer = b""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(0.02)
        try:
            while sent < body_size:
                sock.sendall(bytes(min(16 * 1024, body_size - sent)))
                sent += min(16 * 1024, body_size - sent)
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                answer += data
            sock.settimeout(5)
            while data := sock.recv(65536):  # the answer's rest, then the server's close
                answer += data
        except (TimeoutError, ConnectionError):
            pass
    return sent, answer


def test_the_server_stops_reading_a_body_it_refused(tmp_path: Path) -> None:
    # given: the API under uvicorn with a 256 KiB upload limit, and a 2 MiB upload whose
    # declared length passes the early check (limit + form overhead)
    with live_api(tmp_path, max_chunk_bytes=str(256 * 1024)) as api:
        model = httpx.post(f"{api.url}/v1/models", json=model_body()).json()
        boundary = "b0undary"
        part = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.npz"\r\n\r\n'
        ).encode()
        body_size = 1024 * 1024
        head = (
            f"POST /v1/models/{model['id']}/chunks HTTP/1.1\r\nHost: test\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(part) + body_size}\r\n\r\n"
        ).encode() + part
        unknown = head.replace(model["id"].encode(), b"f" * 32)

        # when: sending on after the answer
        sent_too_large, too_large = send_until_closed(api.port, head, body_size)
        sent_unknown, not_found = send_until_closed(api.port, unknown, body_size)

    # then: a 413 (and a 404) that close the connection; the rest is not read
    assert too_large.startswith(b"HTTP/1.1 413"), too_large[:200]
    assert not_found.startswith(b"HTTP/1.1 404"), not_found[:200]
    assert b"connection: close" in too_large.lower()
    assert sent_too_large < body_size and sent_unknown < body_size


def test_a_dead_broker_does_not_fail_accepted_work(relearn_home: Path) -> None:
    # given: a broker nobody listens on
    settings = embedded_settings(relearn_home, broker_url="redis://127.0.0.1:1/0")
    upgrade_to_head(settings.database_url)
    with TestClient(create_app(settings)) as client:
        # when
        started = time.monotonic()
        created = client.post("/v1/models", json=model_body())
        accepted = client.post(
            f"/v1/models/{created.json()['id']}/chunks",
            files={"file": ("a.npz", npz_bytes(chunk_arrays()))},
        )
        elapsed = time.monotonic() - started

        # then: the model and the job exist; the workers' reconciler will send the work
        assert created.status_code == 201
        assert accepted.status_code == 202
        job = client.get(accepted.headers["location"]).json()
        assert job["status"] == "queued"
    assert elapsed < 30


def test_a_storage_failure_is_a_503_and_leaves_no_rows(relearn_home: Path) -> None:
    # given: the model's chunk folder cannot be created (a file sits where it should be)
    settings = embedded_settings(relearn_home)
    upgrade_to_head(settings.database_url)
    with TestClient(create_app(settings)) as client:
        model = client.post("/v1/models", json=model_body()).json()
        blocker = Path(settings.storage_url) / "models" / model["id"] / "chunks"
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_bytes(b"")

        # when
        response = post_chunk(
            Api(client, settings, "embedded"), model["id"], npz_bytes(chunk_arrays())
        )

        # then
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        api = Api(client, settings, "embedded")
        assert api.count(Chunk) == 0 and api.count(Job, kind=JobKind.update) == 0
        assert client.get(f"/v1/models/{model['id']}").json()["chunk_count"] == 0


def test_the_app_refuses_an_unmigrated_database(relearn_home: Path) -> None:
    # given: no `relearn db upgrade` was run
    app = create_app(embedded_settings(relearn_home))

    # when / then: start-up fails with the command to run
    with pytest.raises(DatabaseNotMigrated, match="relearn db upgrade"), TestClient(app):
        pass


def test_health_and_docs(api: Api) -> None:
    # when
    health = api.client.get("/healthz")
    schema = api.client.get("/openapi.json").json()
    docs = api.client.get("/docs")

    # then
    assert health.status_code == 200 and health.json()["database"] == "ok"
    upload = schema["paths"]["/v1/models/{model_id}/chunks"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "/v1/models/{model_id}/metrics" in schema["paths"]
    assert docs.status_code == 200


def test_models_are_independent(api: Api) -> None:
    # given: two models with chunks
    a, b = api.create_model(), api.create_model()
    submit(api, a["id"])

    # when
    jobs_a = api.client.get(f"/v1/models/{a['id']}/jobs").json()["items"]
    jobs_b = api.client.get(f"/v1/models/{b['id']}/jobs").json()["items"]

    # then
    assert len(jobs_a) == 1 and jobs_b == []


def test_the_api_never_imports_torch(tmp_path: Path) -> None:
    # given: a Python where importing torch fails (the API image has no torch)
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from pathlib import Path\n"
        "from fastapi.testclient import TestClient\n"
        "from app.api.main import create_app\n"
        "from app.config import Settings\n"
        "from app.db.migrate import upgrade_to_head\n"
        "settings = Settings(home=Path(sys.argv[1]))\n"
        "upgrade_to_head(settings.database_url)\n"
        "with TestClient(create_app(settings)) as client:\n"
        "    body = {'architecture': {'params': {'input_dim': 3, 'num_classes': 2}}}\n"
        "    assert client.post('/v1/models', json=body).status_code == 201\n"
    )

    # when
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("RELEARN_")},
    )

    # then: registering a model (numpy version 0 included) worked without torch
    assert result.returncode == 0, result.stderr
