"""Client commands: talk to a running relearn server over HTTP (``--url``/``RELEARN_URL``).

Every command turns the API's problem+json answers into a readable message and a
non-zero exit (see ``ExitCode``); ``--json`` prints the API's JSON for scripts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType

from app.cli.follow import follow_job, is_final
from app.cli.http import (
    DEFAULT_URL,
    ApiClient,
    ApiError,
    ChecksumMismatch,
    ServerUnreachable,
    segment,
)
from app.cli.model_body import (
    build_model_body,
    parse_assignments,
    parse_hidden,
    parse_widths,
    read_json_object,
)
from app.cli.model_ref import model_path, resolve_model
from app.cli.output import ExitCode, fail, note, out, print_json, print_problem
from app.cli.views import (
    job_view,
    jobs_table,
    metrics_view,
    model_view,
    models_table,
    versions_table,
)


@dataclass(frozen=True)
class Target:
    """The server the client commands talk to (the global ``--url`` and ``--timeout``)."""

    url: str = DEFAULT_URL
    timeout: float = 60.0


def target_of(ctx: typer.Context) -> Target:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Target) else Target()


@contextmanager
def api(ctx: typer.Context) -> Iterator[ApiClient]:
    """An ``ApiClient`` for the command; API errors end the command with a message."""
    target = target_of(ctx)
    try:
        with ApiClient(target.url, target.timeout) as client:
            yield client
    except ApiError as exc:
        print_problem(exc.problem)
        raise typer.Exit(int(ExitCode.FAILED)) from None
    except ServerUnreachable as exc:
        raise fail(
            f"the relearn server is not reachable at {exc.url} ({exc.reason}).\n"
            "Start one with `relearn serve`, or point --url / RELEARN_URL at yours.",
            ExitCode.UNREACHABLE,
        ) from None
    except ChecksumMismatch as exc:
        raise fail(str(exc)) from None


JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead.")]
ModelOption = Annotated[str, typer.Option("--model", "-m", help="Model id or name.")]
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as shells report Ctrl-C
Interval = Annotated[float, typer.Option(min=0.05, help="Seconds between polls while following.")]
MaxWait = Annotated[
    float | None,
    typer.Option(min=0, help="Stop following after this many seconds (exit 4). Default: never."),
]


def emit(data: Any, as_json: bool, view: Callable[[Any], RenderableType]) -> None:
    """The API's JSON with ``--json``, else its rich rendering."""
    if as_json:
        print_json(data)
    else:
        out().print(view(data))


def finish_followed(job: dict[str, Any], as_json: bool) -> None:
    """Print the followed job's end; exit 0 if it succeeded, 1 if it failed or was
    cancelled, 4 if it is not final yet (``--max-wait`` ran out)."""
    emit(job, as_json, job_view)
    status = job.get("status")
    if status == "succeeded":
        return
    if not is_final(job):
        raise fail(f"job {job.get('id')} is still {status} (--max-wait ran out)", ExitCode.TIMEOUT)
    raise typer.Exit(int(ExitCode.FAILED))


# --- models -------------------------------------------------------------------------------

models_app = typer.Typer(
    help="Register models and look at them.", no_args_is_help=True, rich_markup_mode="markdown"
)


class OptimizerName(StrEnum):
    sgd = "sgd"
    adam = "adam"
    adamw = "adamw"


@models_app.command("create")
def models_create(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="A label for people.")] = None,
    input_dim: Annotated[
        int | None, typer.Option(help="mlp: features per sample (required for mlp).")
    ] = None,
    hidden: Annotated[
        str | None,
        typer.Option(help="mlp: hidden layer widths, e.g. 256,256 (empty: none); cnn: one width."),
    ] = None,
    num_classes: Annotated[
        int | None, typer.Option(help="Number of classes (required by every built-in).")
    ] = None,
    architecture: Annotated[
        str | None,
        typer.Option(
            help="mlp, cnn, resnet18, or an entry point the workers announce (see GET "
            "/v1/architectures). \\[default: mlp]"
        ),
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(help="cnn, resnet18: one image's shape C,H,W, e.g. 1,28,28."),
    ] = None,
    channels: Annotated[
        str | None, typer.Option(help="cnn: channels of each conv block, e.g. 32,64.")
    ] = None,
    width: Annotated[
        int | None, typer.Option(help="resnet18: channels of the first stage (GEM: 20).")
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            help="Pretrained weights (a safetensors state_dict) that version 0 will hold.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="Wait until a worker has made version 0 (exit 1 if the model failed)."
        ),
    ] = False,
    arch_param: Annotated[
        list[str] | None,
        typer.Option(
            "--arch-param",
            metavar="KEY=VALUE",
            help="Architecture parameter KEY=VALUE (repeatable).",
        ),
    ] = None,
    updater: Annotated[
        str | None,
        typer.Option(help="naive, er, der, gem, agem or rwalk. \\[default: er]"),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="KEY=VALUE",
            help="Updater hyperparameter KEY=VALUE, e.g. memory_size=200 (repeatable).",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs over each chunk.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="New samples per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    optimizer: Annotated[OptimizerName | None, typer.Option(help="Optimizer.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the initial weights and training.")
    ] = None,
    train: Annotated[
        list[str] | None,
        typer.Option(
            "--train",
            metavar="KEY=VALUE",
            help="Other training setting KEY=VALUE, e.g. momentum=0.9.",
        ),
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="The full request body as a JSON file ('-': standard input); the other "
            "options, when given, override its fields.",
        ),
    ] = None,
) -> None:
    """Register a model. A worker makes version 0 from its seeded initial weights, or from
    --weights; the model is "initialising" until then (chunks may be pushed meanwhile).

    Only the options you give are sent; the server fills in every default and names any
    invalid field. Prints the created model as JSON on stdout.

    Examples: relearn models create --name digits --input-dim 784 --hidden 256,256
    --num-classes 10 --updater der --param alpha=0.3 --param beta=0.5 --epochs 2;
    relearn models create --architecture cnn --input-shape 1,28,28 --num-classes 10
    --weights pretrained.safetensors --wait
    """
    architecture_params = parse_assignments(arch_param or [], "--arch-param")
    if input_dim is not None:
        architecture_params["input_dim"] = input_dim
    if hidden is not None:
        widths = parse_hidden(hidden)
        cnn_width = architecture == "cnn" and len(widths) == 1
        architecture_params["hidden"] = widths[0] if cnn_width else widths
    if num_classes is not None:
        architecture_params["num_classes"] = num_classes
    if input_shape is not None:
        architecture_params["input_shape"] = parse_widths(input_shape, "--input-shape")
    if channels is not None:
        architecture_params["channels"] = parse_widths(channels, "--channels")
    if width is not None:
        architecture_params["width"] = width
    training = parse_assignments(train or [], "--train") | {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "optimizer": optimizer.value if optimizer else None,
        "seed": seed,
    }
    body = build_model_body(
        base=read_json_object(body_file, "--json") if body_file else None,
        name=name,
        architecture=architecture,
        architecture_params=architecture_params,
        updater=updater,
        updater_params=parse_assignments(param or [], "--param"),
        training=training,
    )
    with api(ctx) as client:
        model = post_model(client, body, weights)
        note(
            f"[green]Created model[/] [bold]{model.get('id')}[/] ({model.get('name')}), "
            f"{model.get('status')}."
        )
        if wait:
            model = wait_until_initialised(client, str(model.get("id")))
    print_json(model)
    if model.get("status") == "failed":
        raise fail(f"model {model.get('id')} failed: {model.get('error')}")


def post_model(client: ApiClient, body: dict[str, Any], weights: Path | None) -> Any:
    """JSON, or multipart with the body as ``spec`` and the file as ``weights``."""
    if weights is None:
        return client.post_json("/v1/models", body)
    with weights.open("rb") as handle:
        return client.request(
            "POST",
            "/v1/models",
            data={"spec": json.dumps(body)},
            files={"weights": (weights.name, handle, "application/octet-stream")},
        ).json()


def wait_until_initialised(client: ApiClient, model_id: str, interval: float = 0.5) -> Any:
    """Poll the model until it is no longer ``initialising``."""
    while True:
        model = client.get_json(f"/v1/models/{segment(model_id)}")
        if model.get("status") != "initialising":
            return model
        time.sleep(interval)


@models_app.command("list")
def models_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the registered models."""
    with api(ctx) as client:
        listing = client.get_json("/v1/models")
    emit(listing, as_json, lambda data: models_table(data.get("items", [])))


@models_app.command("show")
def models_show(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(metavar="ID", help="Model id or name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one model: architecture, updater, training settings, latest version."""
    with api(ctx) as client:
        model = client.get_json(model_path(client, model_id))
    emit(model, as_json, model_view)


# --- chunks and jobs ------------------------------------------------------------------------


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


def follow_until_interrupted(
    client: ApiClient, job_id: str, interval: float, max_wait: float | None
) -> dict[str, Any]:
    """``follow_job``; Ctrl-C stops following, not the job, and says how to stop it."""
    try:
        return follow_job(client, job_id, interval=interval, max_wait=max_wait)
    except KeyboardInterrupt:
        note(
            f"\nStopped following job {job_id}. The job keeps running on the server. "
            f"Watch it again with `relearn status {job_id} --follow`; stop it with "
            f"`relearn cancel {job_id}`."
        )
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None


def jobs(ctx: typer.Context, model: ModelOption, as_json: JsonFlag = False) -> None:
    """List a model's jobs in chunk submission order."""
    with api(ctx) as client:
        listing = client.get_json(f"{model_path(client, model)}/jobs")
    emit(listing, as_json, lambda data: jobs_table(data.get("items", [])))


# --- versions, artifacts, metrics -----------------------------------------------------------


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
