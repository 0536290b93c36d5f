"""``relearn alias set|rm|ls``: point names such as ``production`` at versions."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from app.cli.client import JsonFlag, ModelOption, api, emit
from app.cli.http import segment
from app.cli.model_ref import model_path
from app.cli.output import note

alias_app = typer.Typer(
    help="Aliases: names (production, staging...) that point at a version of a model.",
    no_args_is_help=True,
)

AliasArg = Annotated[str, typer.Argument(metavar="ALIAS", help="The alias, e.g. production.")]


def aliases_table(listing: dict[str, Any]) -> Table:
    table = Table("alias", "version", "updated")
    for item in listing.get("items", []):
        table.add_row(str(item["alias"]), str(item["version"]), str(item["updated_at"]))
    return table


@alias_app.command("set")
def alias_set(
    ctx: typer.Context,
    model: ModelOption,
    alias: AliasArg,
    version: Annotated[int, typer.Argument(metavar="VERSION", help="A version number.")],
    as_json: JsonFlag = False,
) -> None:
    """Point ALIAS at VERSION (moving it if it points elsewhere)."""
    with api(ctx) as client:
        path = f"{model_path(client, model)}/aliases/{segment(alias)}"
        answer = client.request("PUT", path, json={"version": version}).json()
    emit(answer, as_json, lambda a: f"{a['alias']} → version {a['version']}")


@alias_app.command("rm")
def alias_rm(ctx: typer.Context, model: ModelOption, alias: AliasArg) -> None:
    """Delete ALIAS (the version stays)."""
    with api(ctx) as client:
        client.request("DELETE", f"{model_path(client, model)}/aliases/{segment(alias)}")
    note(f"alias {alias} deleted")


@alias_app.command("ls")
def alias_ls(ctx: typer.Context, model: ModelOption, as_json: JsonFlag = False) -> None:
    """List the model's aliases."""
    with api(ctx) as client:
        listing = client.get_json(f"{model_path(client, model)}/aliases")
    emit(listing, as_json, aliases_table)
