"""``relearn versions|pull|metrics``: a model's published versions, their artifacts and
its accuracy matrix."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.client import JsonFlag, ModelOption, api, emit
from app.cli.http import ApiClient, ApiError, segment
from app.cli.model_ref import model_path, resolve_model
from app.cli.output import note, print_json
from app.cli.views import metrics_view, versions_table


class ArtifactFormat(StrEnum):
    safetensors = "safetensors"
    pt2 = "pt2"


def versions(ctx: typer.Context, model: ModelOption, as_json: JsonFlag = False) -> None:
    """List a model's published versions."""
    with api(ctx) as client:
        listing = client.get_json(f"{model_path(client, model)}/versions")
    emit(listing, as_json, lambda data: versions_table(data.get("items", [])))


def download_when_ready(
    client: ApiClient, path: str, destination: Path, params: dict[str, str], wait: float
) -> Any:
    """Download, waiting while the server answers "not yet, retry after N s" (a ``.pt2``
    that a worker is still exporting) for at most ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return client.download(path, destination, params=params)
        except ApiError as exc:
            pause = exc.retry_after
            if pause is None or time.monotonic() + pause > deadline:
                raise
            note(f"{exc.problem.detail or exc.problem.title}; retrying in {pause:g}s")
            time.sleep(pause)


def pull(
    ctx: typer.Context,
    model: ModelOption,
    version: Annotated[str, typer.Option(help="A version number or 'latest'.")] = "latest",
    format: Annotated[
        ArtifactFormat,
        typer.Option(
            "--format",
            help="safetensors: the state_dict (architecture in its metadata); pt2: a "
            "torch.export program that runs without relearn.",
        ),
    ] = ArtifactFormat.safetensors,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write. \\[default: MODEL-vN.FORMAT]"),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(min=0, help="Seconds to wait for a .pt2 that is still being exported."),
    ] = 120.0,
    as_json: JsonFlag = False,
) -> None:
    """Download a version's artifact; its sha256 is checked against the server's ETag.

    'latest' is resolved to a number first, so the file is one version even if a newer
    one is published meanwhile. The file appears only once complete and verified.
    """
    with api(ctx) as client:
        model = resolve_model(client, model)
        number = client.get_json(f"/v1/models/{segment(model)}/versions/{segment(version)}")[
            "number"
        ]
        destination = output or Path(f"{model}-v{number}.{format.value}")
        download = download_when_ready(
            client,
            f"/v1/models/{segment(model)}/versions/{segment(number)}/artifact",
            destination,
            {"format": format.value},
            wait,
        )
    summary = {
        "model_id": model,
        "version": number,
        "format": format.value,
        "path": str(download.path),
        "size": download.size,
        "sha256": download.sha256,
    }
    if as_json:
        print_json(summary)
    else:
        note(
            f"[green]Wrote[/] {download.path} (version {number}, {download.size} bytes, "
            f"sha256 {download.sha256})"
        )


def metrics(ctx: typer.Context, model: ModelOption, as_json: JsonFlag = False) -> None:
    """Show a model's accuracy matrix with ACC, BWT and forgetting.

    Row i is measured after the update on chunk i, column j on chunk j's eval split (n/a
    where that chunk brought none). ACC and BWT as in the GEM paper, forgetting as in
    Chaudhry et al. 2018, all from the last row.
    """
    with api(ctx) as client:
        result = client.get_json(f"{model_path(client, model)}/metrics")
    emit(result, as_json, metrics_view)
