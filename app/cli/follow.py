"""Following a job to its end: poll ``GET /v1/jobs/{id}`` behind a live progress bar.

The bar goes to stderr, so that the final job printed on stdout stays clean for a pipe.
A server that stops answering for a moment after it has answered once (a restart of
``relearn serve``) is waited for up to ``UNREACHABLE_GRACE_SECONDS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from app.cli.http import ApiClient, ServerUnreachable, segment
from app.cli.output import err
from app.cli.views import FINAL_STATUSES, STATUS_STYLES

UNREACHABLE_GRACE_SECONDS = 30.0


def is_final(job: dict[str, Any]) -> bool:
    return job.get("status") in FINAL_STATUSES


def styled_status(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{status}[/]"


def follow_job(
    client: ApiClient,
    job_id: str,
    *,
    interval: float = 1.0,
    max_wait: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the job is final or ``max_wait`` seconds have passed; return the last
    job seen (final or not: the caller decides what a timeout means)."""
    started = clock()
    unreachable_since: float | None = None
    seen = False  # a server that never answered is reported at once, not waited for
    columns = (
        SpinnerColumn(),
        TextColumn("job {task.fields[job]}"),
        TextColumn("{task.fields[status]:>9}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err(), transient=False) as bar:
        task = bar.add_task("job", total=1.0, job=job_id, status=styled_status("…"))
        while True:
            try:
                job: dict[str, Any] = client.get_json(f"/v1/jobs/{segment(job_id)}")
                unreachable_since = None
                seen = True
            except ServerUnreachable:
                unreachable_since = unreachable_since or clock()
                if not seen or clock() - unreachable_since > UNREACHABLE_GRACE_SECONDS:
                    raise
                bar.update(task, status=styled_status("no answer"))
            else:
                status = str(job.get("status", "?"))
                progress = job.get("progress")
                bar.update(
                    task,
                    completed=float(progress) if isinstance(progress, int | float) else 0.0,
                    status=styled_status(status),
                )
                if is_final(job):
                    return job
                if max_wait is not None and clock() - started >= max_wait:
                    return job
            sleep(interval)
