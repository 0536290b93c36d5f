"""``relearn status|cancel|retry|jobs``: look at jobs, follow, cancel and retry them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from app.cli.client import (
    Interval,
    JsonFlag,
    MaxWait,
    ModelOption,
    api,
    emit,
    finish_followed,
    follow_until_interrupted,
)
from app.cli.http import segment
from app.cli.model_ref import model_path
from app.cli.output import note
from app.cli.views import job_view, jobs_table


def status(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="Job id (from push).")],
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Show live progress until the job is final; exit 0 if it "
            "succeeded, 1 if it failed or was cancelled.",
        ),
    ] = False,
    interval: Interval = 1.0,
    max_wait: MaxWait = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a job: status, progress, versions, metrics, error."""
    with api(ctx) as client:
        if follow:
            job = follow_until_interrupted(client, job_id, interval, max_wait)
        else:
            job = client.get_json(f"/v1/jobs/{segment(job_id)}")
    if follow:
        finish_followed(job, as_json)
    else:
        emit(job, as_json, job_view)


def cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="Job id.")],
    as_json: JsonFlag = False,
) -> None:
    """Cancel a queued or running job (a running one stops within seconds)."""
    with api(ctx) as client:
        job = client.post_json(f"/v1/jobs/{segment(job_id)}/cancel")
    if not as_json:
        note(cancel_outcome(job))
    emit(job, as_json, job_view)


def cancel_outcome(job: dict[str, Any]) -> str:
    """What the cancel did, in words (the job JSON alone does not say it)."""
    job_id = job.get("id")
    if job.get("status") == "cancelled":
        return f"Job {job_id} is cancelled: it publishes no version, and the model's next job runs."
    return (
        f"Job {job_id} is stopping: it is {job.get('status')} and stops at its next step, "
        f"publishing nothing. Check with: relearn status {job_id}"
    )


def retry(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="A failed job's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Queue a failed job's chunk again, as a new job at the end of the model's queue."""
    with api(ctx) as client:
        job = client.post_json(f"/v1/jobs/{segment(job_id)}/retry")
    if not as_json:
        note(
            f"Job {job_id}'s chunk is queued again as job [bold]{job.get('id')}[/]. "
            f"Follow it with: relearn status {job.get('id')} --follow"
        )
    emit(job, as_json, job_view)


def jobs(ctx: typer.Context, model: ModelOption, as_json: JsonFlag = False) -> None:
    """List a model's jobs in chunk submission order."""
    with api(ctx) as client:
        listing = client.get_json(f"{model_path(client, model)}/jobs")
    emit(listing, as_json, lambda data: jobs_table(data.get("items", [])))
