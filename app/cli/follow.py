"""Following a job to its end through ``GET /v1/jobs/{id}/events``, behind a progress bar.

The bar goes to stderr, so that the final job printed on stdout stays clean for a pipe.
A stream that breaks after the server has answered once (a restart of ``relearn serve``)
is reconnected for up to ``UNREACHABLE_GRACE_SECONDS``; each new stream starts with the
job's current state, so nothing is missed. ``max_wait`` is passed to the server as the
stream's ``timeout``, so giving up does not wait for the next event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from app.cli.http import ApiClient, ApiError, ServerUnreachable, segment
from app.cli.output import err
from app.cli.views import FINAL_STATUSES, STATUS_STYLES

UNREACHABLE_GRACE_SECONDS = 30.0
WORKER_CHECK_SECONDS = 30.0  # while the job stays queued, look at /healthz again this often
NO_WORKER = (
    "No worker is running: job {job} waits in the queue until one starts. "
    "Start one with `relearn worker` (`relearn serve` runs one beside the API)."
)


def is_final(job: dict[str, Any]) -> bool:
    return job.get("status") in FINAL_STATUSES


def styled_status(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{status}[/]"


def latest_loss(job: dict[str, Any]) -> str:
    """``loss 0.412`` from the job's loss so far, or nothing before the first report."""
    curve = job.get("loss_curve")
    if not isinstance(curve, list) or not curve or not isinstance(curve[-1], dict):
        return ""
    loss = curve[-1].get("loss")
    return f"loss {loss:.4g}" if isinstance(loss, int | float) else ""


def no_live_worker(client: ApiClient) -> bool:
    """True when ``/healthz`` reports no live worker; False when one is, or when the
    server cannot tell (an older server, an error: the job's events will say more)."""
    try:
        health = client.get_json("/healthz")
    except (ApiError, ServerUnreachable, ValueError):
        return False
    workers = health.get("workers") if isinstance(health, dict) else None
    return isinstance(workers, dict) and workers.get("alive") == 0


class WorkerWatch:
    """Says once that no worker is running, if the job waits queued and none is."""

    def __init__(self, client: ApiClient, clock: Callable[[], float]) -> None:
        self.client, self.clock = client, clock
        self.checked_at: float | None = None
        self.warned = False

    def see(self, job: dict[str, Any], bar: Progress) -> None:
        if self.warned or job.get("status") != "queued":
            return
        now = self.clock()
        if self.checked_at is not None and now - self.checked_at < WORKER_CHECK_SECONDS:
            return
        self.checked_at = now
        if no_live_worker(self.client):
            self.warned = True
            bar.console.print(NO_WORKER.format(job=job.get("id")), style="yellow", markup=False)


def show(bar: Progress, task: TaskID, job: dict[str, Any]) -> None:
    progress = job.get("progress")
    bar.update(
        task,
        completed=float(progress) if isinstance(progress, int | float) else 0.0,
        status=styled_status(str(job.get("status", "?"))),
        loss=latest_loss(job),
    )


def follow_job(
    client: ApiClient,
    job_id: str,
    *,
    interval: float = 1.0,
    max_wait: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Follow the job's events until its ``end`` or until ``max_wait`` seconds have
    passed; return the last job seen (final or not: the caller decides what a timeout
    means). ``interval``: how often the server looks at the job, and the pause before a
    reconnection."""
    deadline = None if max_wait is None else clock() + max_wait
    path = f"/v1/jobs/{segment(job_id)}/events"
    job: dict[str, Any] | None = None  # None: the server never answered (reported at once)
    unreachable_since: float | None = None
    columns = (
        SpinnerColumn(),
        TextColumn("job {task.fields[job]}"),
        TextColumn("{task.fields[status]:>9}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
    )
    watch = WorkerWatch(client, clock)
    with Progress(*columns, console=err(), transient=False) as bar:
        task = bar.add_task("job", total=1.0, job=job_id, status=styled_status("…"), loss="")
        while True:
            params = {"interval": str(interval)}
            if deadline is not None:
                params["timeout"] = str(max(0.0, deadline - clock()))
            try:
                with closing(client.events(path, params=params)) as events:
                    for event in events:
                        if event.event not in ("progress", "end"):
                            continue
                        job = event.json()
                        unreachable_since = None
                        show(bar, task, job)
                        watch.see(job, bar)
                        if event.event == "end":
                            return job
            except ServerUnreachable:
                unreachable_since = unreachable_since or clock()
                if job is None or clock() - unreachable_since > UNREACHABLE_GRACE_SECONDS:
                    raise
                bar.update(task, status=styled_status("no answer"))
            # The stream ended without `end`: our timeout ran out, or the server went away.
            if job is not None and deadline is not None and clock() >= deadline:
                return job
            sleep(interval)
