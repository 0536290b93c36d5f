"""``relearn models create|list|show``: register models and look at them (``update`` is
``model_settings``)."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.client import JsonFlag, api, emit
from app.cli.http import ApiClient, segment
from app.cli.model_body import (
    build_model_body,
    parse_assignments,
    parse_hidden,
    parse_widths,
    read_json_object,
    section,
)
from app.cli.model_ref import model_path
from app.cli.output import fail, note, print_json
from app.cli.views import model_view, models_table

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
    promotion: Annotated[
        list[str] | None,
        typer.Option(
            "--promotion",
            metavar="KEY=VALUE",
            help="The promotion gate (repeatable): alias=NAME, and bounds "
            "min_average_accuracy, max_forgetting, max_accuracy_drop (0..1). After each job "
            "the alias moves to the new version only if it passes every bound given.",
        ),
    ] = None,
    retention: Annotated[
        list[str] | None,
        typer.Option(
            "--retention",
            metavar="KEY=VALUE",
            help="What history to keep (repeatable): keep_chunks=K (raw objects of the "
            "newest K applied chunks; eval splits stay), keep_versions=K (the newest K "
            "versions, plus latest and those an alias holds). Default: everything.",
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
    --weights pretrained.safetensors --wait; relearn models create --name digits
    --input-dim 64 --num-classes 10 --promotion alias=production --promotion
    max_accuracy_drop=0.1 --retention keep_versions=5
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
    for key, items in (("promotion", promotion), ("retention", retention)):
        if items:
            section(body, key).update(parse_assignments(items, f"--{key}"))
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
    return client.post_file("/v1/models", weights, field="weights", form={"spec": json.dumps(body)})


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
