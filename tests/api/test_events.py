"""``GET /v1/jobs/{id}/events``: progress as Server-Sent Events, then one ``end``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import connect_sse
from sqlalchemy import event

from app.api.main import create_app
from app.db.models import utcnow
from tests.api.harness import Api
from tests.api.job_rows import set_job
from tests.api.jobs_helpers import submit
from tests.serving import served


def read_events(client: httpx.Client, job_id: str, **params: Any) -> list[tuple[str, Any]]:
    """Every (event, job) of the stream until the server closes it."""
    with connect_sse(client, "GET", f"/v1/jobs/{job_id}/events", params=params) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [(e.event, e.json()) for e in source.iter_sse()]


def in_background(steps: list[Callable[[], None]], pause: float) -> threading.Thread:
    def run() -> None:
        for step in steps:
            time.sleep(pause)
            step()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_job_is_followed_from_its_current_state_to_its_end(api: Api) -> None:
    # given: a queued job that a "worker" starts, moves on and finishes meanwhile
    model = api.create_model()
    job_id = submit(api, model["id"])
    worker = in_background(
        [
            lambda: set_job(api.sessions, job_id, status="running", started_at=utcnow()),
            lambda: set_job(api.sessions, job_id, progress=0.5),
            lambda: set_job(
                api.sessions,
                job_id,
                status="succeeded",
                progress=1.0,
                result_version=1,
                finished_at=utcnow(),
            ),
        ],
        pause=0.3,
    )

    # when
    events = read_events(api.client, job_id, interval=0.05)
    worker.join()

    # then: the current state first, each change once, then one `end` with the final job
    assert [(name, job["status"], job["progress"]) for name, job in events] == [
        ("progress", "queued", 0.0),
        ("progress", "running", 0.0),
        ("progress", "running", 0.5),
        ("end", "succeeded", 1.0),
    ]
    assert events[-1][1] == api.client.get(f"/v1/jobs/{job_id}").json()


def test_a_finished_job_gives_its_state_then_end(api: Api) -> None:
    # given
    model = api.create_model()
    job_id = submit(api, model["id"])
    api.client.post(f"/v1/jobs/{job_id}/cancel")

    # when
    events = read_events(api.client, job_id)

    # then
    assert [(name, job["status"]) for name, job in events] == [
        ("progress", "cancelled"),
        ("end", "cancelled"),
    ]


def test_the_timeout_closes_a_stream_whose_job_does_not_end(api: Api) -> None:
    # given: a job that stays queued (no worker)
    model = api.create_model()
    job_id = submit(api, model["id"])

    # when
    started = time.monotonic()
    events = read_events(api.client, job_id, interval=0.05, timeout=0.3)

    # then: its state, no `end`, closed in about the timeout
    assert [(name, job["status"]) for name, job in events] == [("progress", "queued")]
    assert 0.3 <= time.monotonic() - started < 5


def test_an_unknown_job_is_a_404_problem_before_any_event(api: Api) -> None:
    # when
    response = api.client.get("/v1/jobs/0123456789abcdef0123456789abcdef/events")

    # then
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "job_id"


def test_an_interval_out_of_bounds_is_a_422_naming_it(api: Api) -> None:
    # given
    model = api.create_model()
    job_id = submit(api, model["id"])

    # when
    response = api.client.get(f"/v1/jobs/{job_id}/events", params={"interval": 0})

    # then
    assert response.status_code == 422
    assert response.json()["field"] == "interval"


def test_the_server_stops_reading_the_job_once_the_client_goes_away(api: Api) -> None:
    # given: a queued job, the app on a real server, and a count of the job reads
    model = api.create_model()
    job_id = submit(api, model["id"])
    app = create_app(api.settings)
    reads = 0

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal reads
        reads += statement.lstrip().upper().startswith("SELECT") and "FROM jobs" in statement

    event.listen(app.state.engine, "before_cursor_execute", count)

    with served(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        # when: a client reads the first event, waits a little, and leaves
        with connect_sse(
            client, "GET", f"/v1/jobs/{job_id}/events", params={"interval": 0.05}
        ) as source:
            events = source.iter_sse()  # kept: dropping it would close the response
            first = next(events)
            time.sleep(0.5)
        while_connected = reads
        time.sleep(0.5)
        soon_after = reads
        time.sleep(0.5)

        # then: it was polled while connected, and no more once the client left
        assert first.event == "progress" and first.json()["id"] == job_id
        assert while_connected >= 5
        assert reads == soon_after
