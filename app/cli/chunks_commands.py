"""``relearn push``: upload a data chunk, which queues a training job (and follow it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.client import (
    Interval,
    JsonFlag,
    MaxWait,
    ModelOption,
    api,
    finish_followed,
    follow_until_interrupted,
)
from app.cli.model_ref import model_path
from app.cli.output import note, out, print_json


def parse_updater_json(text: str | None) -> str | None:
    """Check ``--updater-json`` locally (a JSON object) and send it as given."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}", param_hint="--updater-json") from None
    if not isinstance(value, dict):
        raise typer.BadParameter(
            'expected a JSON object such as {"name": "der", "params": {"alpha": 0.3}}',
            param_hint="--updater-json",
        )
    return text


def push(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help=".npz or .safetensors holding x, y and optionally x_eval, y_eval.",
        ),
    ],
    model: ModelOption,
    updater_json: Annotated[
        str | None,
        typer.Option(
            help='This chunk\'s updater instead of the model\'s: {"name": "der", "params": {..}}.'
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="Retrying with the same key returns the original job, not a new one."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Follow the job until it is final.")
    ] = False,
    interval: Interval = 1.0,
    max_wait: MaxWait = None,
    as_json: JsonFlag = False,
) -> None:
    """Upload a data chunk for a model: the server stores it and queues a training job.

    With --follow, shows the job's progress and exits 0 if it succeeds, 1 if it fails.
    """
    form = {"updater": updater} if (updater := parse_updater_json(updater_json)) else {}
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    with api(ctx) as client:
        accepted = client.post_file(
            f"{model_path(client, model)}/chunks", file, form=form, headers=headers
        )
        if follow:
            note(f"Chunk {accepted.get('chunk_id')} accepted; following job {accepted['job_id']}.")
            job = follow_until_interrupted(client, accepted["job_id"], interval, max_wait)
    if follow:
        finish_followed(job, as_json)
        return
    if as_json:
        print_json(accepted)
        return
    note(f"Chunk [bold]{accepted.get('chunk_id')}[/] accepted.")
    out().print(
        f"job {accepted.get('job_id')} {accepted.get('status')}", highlight=False, markup=False
    )
    note(f"Follow it with: relearn status {accepted.get('job_id')} --follow")
