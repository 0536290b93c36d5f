"""``relearn models update MODEL``: set or remove a model's promotion gate and retention."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from app.cli.client import JsonFlag, api, emit
from app.cli.model_body import parse_assignments
from app.cli.model_ref import model_path
from app.cli.views import model_view


def models_update(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Model id or name.")],
    promotion: Annotated[
        list[str] | None,
        typer.Option(
            "--promotion",
            metavar="KEY=VALUE",
            help="The new promotion gate (repeatable; replaces the current one): alias=NAME "
            "and bounds min_average_accuracy, max_forgetting, max_accuracy_drop.",
        ),
    ] = None,
    no_promotion: Annotated[
        bool, typer.Option("--no-promotion", help="Remove the promotion gate.")
    ] = False,
    retention: Annotated[
        list[str] | None,
        typer.Option(
            "--retention",
            metavar="KEY=VALUE",
            help="The new retention (repeatable; replaces the current one): keep_chunks=K, "
            "keep_versions=K.",
        ),
    ] = None,
    no_retention: Annotated[
        bool, typer.Option("--no-retention", help="Keep everything from now on.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Change MODEL's promotion gate or retention (the rest stays as registered). The gate
    applies from the next job, the retention from the workers' next sweep."""
    body: dict[str, Any] = {}
    for key, items, remove in (
        ("promotion", promotion, no_promotion),
        ("retention", retention, no_retention),
    ):
        if items and remove:
            raise typer.BadParameter(f"--{key} and --no-{key} contradict each other")
        if items:
            body[key] = parse_assignments(items, f"--{key}")
        elif remove:
            body[key] = None
    if not body:
        raise typer.BadParameter("nothing to change: give --promotion, --retention or --no-...")
    with api(ctx) as client:
        answer = client.request("PATCH", model_path(client, model), json=body).json()
    emit(answer, as_json, model_view)
