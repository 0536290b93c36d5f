"""``GET /v1/jobs/{id}/events``: a job's progress as Server-Sent Events.

``progress`` events carry the job JSON: the current state first, then each change. One
``end`` event carries the finished job, and the stream closes. The server reads the job's
row every ``interval`` seconds (one primary-key read, no session held between reads); a
client that goes away cancels the loop at its next await, and ``timeout`` bounds a
stream whose job does not end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Query
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionmakerDep
from app.errors import NotFound
from app.schemas.jobs import JobPublic
from app.schemas.problem import problem_responses
from app.services import jobs as service

router = APIRouter(tags=["jobs"])

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
PING_SECONDS = 15.0  # a comment line, so that proxies keep an idle stream open
EVENT_STREAM = {
    "description": "`progress` events (data: the job), then one `end` event (data: the "
    "finished job).",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


def read_job(sessions: sessionmaker[Session], job_id: str) -> JobPublic:
    with sessions() as session:
        job = service.get_job(session=session, job_id=job_id)
        return JobPublic.model_validate(job, from_attributes=True)


def event(name: str, job: JobPublic) -> ServerSentEvent:
    return ServerSentEvent(data=job.model_dump_json(), event=name)


async def job_events(
    sessions: sessionmaker[Session], job: JobPublic, interval: float, timeout: float | None
) -> AsyncIterator[ServerSentEvent]:
    """``progress`` now and on each change, ``end`` once final; returns without ``end``
    at the timeout, or if the job disappears or the database stops answering (a client
    reconnecting then gets the 404 or 503)."""
    deadline = None if timeout is None else anyio.current_time() + timeout
    yield event("progress", job)
    while job.status not in FINAL_STATUSES:
        wait = interval
        if deadline is not None:
            wait = min(wait, deadline - anyio.current_time())
            if wait <= 0:
                return
        await anyio.sleep(wait)
        try:
            latest = await run_in_threadpool(read_job, sessions, job.id)
        except (NotFound, OperationalError):
            return
        if latest != job and latest.status not in FINAL_STATUSES:
            yield event("progress", latest)
        job = latest
    yield event("end", job)


@router.get(
    "/v1/jobs/{job_id}/events",
    response_class=EventSourceResponse,
    responses={200: EVENT_STREAM, **problem_responses(404, 422)},
)
async def get_job_events(
    job_id: str,
    sessions: SessionmakerDep,
    interval: Annotated[
        float, Query(ge=0.05, le=30, description="Seconds between looks at the job.")
    ] = 1.0,
    timeout: Annotated[
        float | None,
        Query(
            ge=0,
            le=86400,
            description="Close the stream after this many seconds, "
            "`end` or not. Default: at the job's end.",
        ),
    ] = None,
) -> EventSourceResponse:
    """Follow a job: its progress (and loss so far, once the worker reports it) as it
    changes, then its final state. An unknown job is a 404 before any event."""
    job = await run_in_threadpool(read_job, sessions, job_id)
    return EventSourceResponse(job_events(sessions, job, interval, timeout), ping=PING_SECONDS)
