"""What the client puts on the wire and how it reads answers a real relearn does not give
on demand (a proxy's plain-text 502, a 503 that clears, a dropped connection).

These use ``httpx.MockTransport`` — httpx's own in-memory transport — as a recording
server: the client code under test is the real one, from ``Client`` down to ``httpx``.
Everything a real server can show is tested against ``relearn serve`` in the other files.
"""

from __future__ import annotations

import json

import httpx
import pytest

from relearn import Client, FieldError, InvalidRequest, NotFound, ServerUnreachable
from relearn.errors import APIError, ServerError, ServiceUnavailable

JOB = {"id": "j1", "model_id": "m1", "status": "queued", "progress": 0.0}


class Recorder:
    """Answers from a script, one per request, and keeps the requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        request.read()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def without_boundary(request: httpx.Request) -> bytes:
    """A multipart body with its (random, per request) boundary blanked out."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    return request.content.replace(boundary, b"BOUNDARY")


def client_on(recorder: Recorder, **kwargs: object) -> Client:
    return Client("http://relearn.test", transport=httpx.MockTransport(recorder), **kwargs)  # type: ignore[arg-type]


def test_the_api_key_is_sent_as_a_bearer_token_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: RELEARN_URL and RELEARN_API_KEY in the environment, no arguments
    monkeypatch.setenv("RELEARN_URL", "http://from-env.test/")
    monkeypatch.setenv("RELEARN_API_KEY", "rk_secret")
    recorder = Recorder(httpx.Response(200, json=JOB))

    # when
    with Client(transport=httpx.MockTransport(recorder)) as client:
        client.get_job("j1")

    # then: the request went to the environment's URL with the key as a bearer token
    (request,) = recorder.requests
    assert str(request.url) == "http://from-env.test/v1/jobs/j1"
    assert request.headers["authorization"] == "Bearer rk_secret"
    assert request.headers["user-agent"].startswith("relearn-python/")


def test_explicit_arguments_win_over_the_environment_and_no_key_sends_no_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELEARN_API_KEY", "rk_env")
    recorder = Recorder(httpx.Response(200, json=JOB))
    with client_on(recorder, api_key="") as client:
        client.get_job("j1")
    assert "authorization" not in recorder.requests[0].headers
    assert recorder.requests[0].url.host == "relearn.test"


def test_ids_are_one_path_segment_each() -> None:
    recorder = Recorder(httpx.Response(200, json=JOB))
    with client_on(recorder) as client:
        client.get_job("a/b?c")
    assert recorder.requests[0].url.raw_path == b"/v1/jobs/a%2Fb%3Fc"


def test_a_get_is_retried_after_a_503_and_a_dropped_connection() -> None:
    # given: a 503 with Retry-After 0, then a dropped connection, then the answer
    recorder = Recorder(
        httpx.Response(503, headers={"Retry-After": "0"}, json={"title": "Service unavailable"}),
        httpx.ReadError("connection reset"),
        httpx.Response(200, json=JOB),
    )
    # when
    with client_on(recorder, retries=2) as client:
        job = client.get_job("j1")
    # then: three attempts, the last one answered
    assert job.id == "j1" and len(recorder.requests) == 3


def test_a_post_without_idempotency_key_is_not_retried() -> None:
    recorder = Recorder(httpx.Response(503, headers={"Retry-After": "0"}, json={}))
    with client_on(recorder, retries=5) as client, pytest.raises(ServiceUnavailable) as caught:
        client.cancel_job("j1")
    assert len(recorder.requests) == 1
    assert caught.value.retry_after == 0.0 and caught.value.status == 503


def test_a_push_is_retried_with_the_same_idempotency_key_and_the_same_bytes() -> None:
    # given: the first upload's connection drops
    recorder = Recorder(
        httpx.RemoteProtocolError("server disconnected"),
        httpx.Response(202, json={"job_id": "j1", "chunk_id": "c1", "status": "queued"}),
        httpx.Response(200, json=JOB),
    )
    # when
    with client_on(recorder) as client:
        job = client.push_chunk("m1", {"x": [[0.0, 1.0]], "y": [0]}, updater="naive")
    # then: both uploads carry one key and identical bodies; the job is fetched after
    first, second, fetch = recorder.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert without_boundary(first) == without_boundary(second)
    assert b'{"name": "naive"}' in first.content
    assert fetch.url.path == "/v1/jobs/j1" and job.status == "queued"


def test_problem_json_becomes_the_error_of_its_status_with_the_field_errors() -> None:
    problem = {
        "type": "about:blank",
        "title": "Invalid input",
        "status": 422,
        "detail": "updater.params.alpha: must be >= 0",
        "instance": "/v1/models",
        "field": "updater.params.alpha",
        "errors": [{"field": "updater.params.alpha", "reason": "must be >= 0"}],
    }
    recorder = Recorder(
        httpx.Response(422, json=problem, headers={"content-type": "application/problem+json"})
    )
    with client_on(recorder) as client, pytest.raises(InvalidRequest) as caught:
        client.create_model("m")
    error = caught.value
    assert (error.status, error.title, error.instance) == (422, "Invalid input", "/v1/models")
    assert error.errors == (FieldError("updater.params.alpha", "must be >= 0"),)
    assert error.field == "updater.params.alpha"
    assert json.loads(recorder.requests[0].content) == {"name": "m"}


def test_fastapi_default_errors_and_plain_text_are_read_too() -> None:
    recorder = Recorder(
        httpx.Response(404, json={"detail": [{"loc": ["query", "limit"], "msg": "too big"}]}),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
    )
    with client_on(recorder, retries=0) as client:
        with pytest.raises(NotFound) as not_found:
            client.get_job("j1")
        with pytest.raises(ServerError) as bad_gateway:
            client.get_job("j1")
    assert not_found.value.errors == (FieldError("limit", "too big"),)
    assert bad_gateway.value.status == 502
    assert bad_gateway.value.detail == "<html>Bad Gateway</html>"
    assert isinstance(bad_gateway.value, APIError)


def test_a_timeout_is_not_retried_and_is_unreachable() -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"))
    with client_on(recorder) as client, pytest.raises(ServerUnreachable) as caught:
        client.get_job("j1")
    assert len(recorder.requests) == 1 and "no answer in time" in caught.value.reason


def test_arrays_of_objects_are_refused_before_anything_is_sent() -> None:
    recorder = Recorder()
    with client_on(recorder) as client, pytest.raises(ValueError, match="pickled"):
        client.push_chunk("m1", {"x": [[0.0]], "y": [{"a": 1}]})
    assert recorder.requests == []
