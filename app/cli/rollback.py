"""``relearn rollback MODEL --to N``: queue a job that republishes an earlier version."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.client import (
    Interval,
    JsonFlag,
    MaxWait,
    api,
    emit,
    finish_followed,
    follow_until_interrupted,
)
from app.cli.model_ref import model_path
from app.cli.output import note
from app.cli.views import job_view


def rollback(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Model id or name.")],
    to: Annotated[int, typer.Option("--to", min=0, help="The version to restore.")],
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Follow the job until it is final (exit 1 unless it succeeded)."
        ),
    ] = False,
    interval: Interval = 1.0,
    max_wait: MaxWait = None,
    as_json: JsonFlag = False,
) -> None:
    """Roll MODEL back to version N: a job, queued behind the model's pending jobs, that
    publishes a new version holding version N's weights and updater state (parent N). The
    promotion gate decides on it as on any job; the accuracy matrix stands as it did at N."""
    with api(ctx) as client:
        job = client.post_json(f"{model_path(client, model)}/rollback", {"version": to})
        if not as_json:
            note(
                f"Rollback to version {to} queued as job [bold]{job.get('id')}[/]. "
                f"Follow it with: relearn status {job.get('id')} --follow"
            )
        if follow:
            job = follow_until_interrupted(client, str(job.get("id")), interval, max_wait)
    if follow:
        finish_followed(job, as_json)
    else:
        emit(job, as_json, job_view)
