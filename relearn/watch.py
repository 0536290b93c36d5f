"""Following a job to its end: its Server-Sent Events, or polling where there are none.

``GET /v1/jobs/{id}/events`` streams the job's JSON (``progress`` events, the current
state first, then one ``end``). A server without that route (404 for a job that exists,
or an answer that is not an event stream) is polled with ``GET /v1/jobs/{id}`` instead,
and remembered as such. A server that stops answering after it has answered once (a
restart) is waited for up to ``UNREACHABLE_GRACE_S``; the stream is then resumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator

from httpx_sse import EventSource, SSEError

from relearn.errors import NotFound, ServerUnreachable, WaitTimeout
from relearn.models import Job
from relearn.transport import Transport, segment

UNREACHABLE_GRACE_S = 30.0
JOB_EVENTS = frozenset({"progress", "end"})
# The events route's bounds for its ``interval`` and ``timeout`` parameters.
MIN_EVENT_INTERVAL_S = 0.05
MAX_EVENT_TIMEOUT_S = 86400.0


class Deadline:
    """When a wait of ``timeout`` seconds (``None``: for ever) started and ends."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.ends = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float | None:
        return None if self.ends is None else max(0.0, self.ends - time.monotonic())

    def check(self, job: Job) -> None:
        """Raise ``WaitTimeout`` once the time is up and ``job`` is not final."""
        if self.ends is not None and time.monotonic() >= self.ends and not job.done:
            raise WaitTimeout(f"job {job.id} is still {job.status} after {self.timeout:g}s", job)

    def pause(self, interval: float) -> float:
        remaining = self.remaining()
        return interval if remaining is None else min(interval, remaining)


class JobWatcher:
    """Yields a job's states until it is final (each state once)."""

    def __init__(self, transport: Transport, get_job: Callable[[str], Job]) -> None:
        self.transport = transport
        self.get_job = get_job
        self.events_supported: bool | None = None  # unknown until the first watch

    def watch(
        self, job_id: str, *, timeout: float | None = None, interval: float = 1.0
    ) -> Iterator[Job]:
        deadline = Deadline(timeout)
        if self.events_supported is not False:
            ended = yield from self._events(job_id, deadline, interval)
            if ended:
                return
        yield from self._poll(job_id, deadline, interval)

    def _events(
        self, job_id: str, deadline: Deadline, interval: float
    ) -> Generator[Job, None, bool]:
        """Follow the event stream; False if the server has none (then poll)."""
        last: Job | None = None
        lost_since: float | None = None
        while True:
            # The server closes the stream at our deadline (``timeout``); the read timeout
            # stops a wait on a server that ignores it.
            params = {"interval": min(max(interval, MIN_EVENT_INTERVAL_S), 30.0)}
            read = self.transport.timeout
            remaining = deadline.remaining()
            if remaining is not None:
                params["timeout"] = min(remaining, MAX_EVENT_TIMEOUT_S)
                read = min(read, remaining + 1.0)
            try:
                with self.transport.stream(
                    "GET",
                    f"/v1/jobs/{segment(job_id)}/events",
                    params=params,
                    headers={"Accept": "text/event-stream", "Cache-Control": "no-store"},
                    timeout=self.transport.timeouts(read),
                ) as response:
                    for sse in EventSource(response).iter_sse():
                        self.events_supported = True
                        lost_since = None
                        if sse.event not in JOB_EVENTS or not sse.data:
                            continue  # a comment or keep-alive
                        job = Job.model_validate_json(sse.data)
                        if job != last:
                            yield job
                            last = job
                        if sse.event == "end" or job.done:
                            return True
                        deadline.check(job)
            except NotFound:
                if self.events_supported:
                    raise  # the route exists: it is the job that is gone
                self.get_job(job_id)  # raises NotFound itself if there is no such job
                self.events_supported = False
                return False
            except SSEError:  # something answered 200 that is not an event stream
                self.events_supported = False
                return False
            except ServerUnreachable:
                if last is None:
                    raise
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > UNREACHABLE_GRACE_S:
                    raise
            if last is not None:
                deadline.check(last)
            time.sleep(deadline.pause(interval))  # the stream ended early: resume it

    def _poll(self, job_id: str, deadline: Deadline, interval: float) -> Iterator[Job]:
        last: Job | None = None
        lost_since: float | None = None
        while True:
            try:
                job = self.get_job(job_id)
                lost_since = None
            except ServerUnreachable:
                if last is None:
                    raise
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > UNREACHABLE_GRACE_S:
                    raise
                deadline.check(last)
                time.sleep(deadline.pause(interval))
                continue
            if job != last:
                yield job
                last = job
            if job.done:
                return
            deadline.check(job)
            time.sleep(deadline.pause(interval))
