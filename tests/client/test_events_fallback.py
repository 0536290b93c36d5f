"""Against a server without ``GET /v1/jobs/{id}/events`` the client polls instead.

The older server is this release's API minus that one route, served in a thread on the
session service's RELEARN_HOME (same database, storage and broker), so that the
session's worker runs its jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import BaseRoute

from relearn import Client, NotFound
from tests.client.data import chunks, spec
from tests.serving import served

EVENTS_PATH = "/v1/jobs/{job_id}/events"


@pytest.fixture
def server_without_events(home: Path) -> Iterator[str]:
    from app.api.main import create_app
    from tests.cli.runner import embedded_settings

    app = create_app(embedded_settings(home))
    app.router.routes = [r for r in app.router.routes if not only_events(r)]
    with served(app) as url:
        # the premise: the route is gone (a 404 that names no job)
        answer = httpx.get(f"{url}/v1/jobs/some-job/events", timeout=30)
        assert answer.status_code == 404 and "no route" in answer.json()["detail"]
        yield url


def only_events(route: BaseRoute) -> bool:
    """The events route, or a router included with only that route (FastAPI ≥ 0.16x
    keeps included routers as such)."""
    inner = getattr(route, "original_router", None)
    if inner is not None:
        return all(getattr(r, "path", None) == EVENTS_PATH for r in inner.routes)
    return getattr(route, "path", None) == EVENTS_PATH


def test_a_server_without_events_is_polled(server_without_events: str, name: str) -> None:
    with Client(server_without_events, timeout=30) as client:
        # given: the route is missing; an unknown job is still a 404 (and decides nothing)
        with pytest.raises(NotFound):
            client.wait_job(f"{name}-nobody", timeout=5)
        assert client._watcher.events_supported is None
        model = client.create_model(spec_body=spec(name))
        job = client.push_chunk(model, chunks(1)[0])
        # when
        done = client.wait_job(job, timeout=180, interval=0.1)
        # then: the job was followed to its end by polling, and that is remembered
        assert done.succeeded and done.id == job.id
        assert client._watcher.events_supported is False
