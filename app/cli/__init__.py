"""``relearn``: run the service (serve, worker, db) and use it (models, push, status, pull).

The console script points at ``main``. This package never imports torch: it ships in
the API image, which has none.
"""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli import (
    aliases,
    chunks_commands,
    client,
    jobs_commands,
    keys,
    model_settings,
    models_commands,
    rollback,
    server,
    versions_commands,
)
from app.cli.http import DEFAULT_URL, cli_version

SERVER_PANEL = "Run the service"
CLIENT_PANEL = "Use a running service"

app = typer.Typer(
    name="relearn",
    help="Keep PyTorch models up to date as labelled data arrives, with continual learning.\n\n"
    "Start a server with `relearn serve`, register a model with `relearn models create`, "
    "send data chunks with `relearn push`, fetch the newest weights with `relearn pull`.",
    epilog="Exit codes: 0 ok; 1 the API refused the request or the followed job failed; "
    "2 bad usage; 3 server not reachable; 4 --max-wait ran out.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"relearn {cli_version()}")
        raise typer.Exit()


@app.callback()
def options(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Option(envvar="RELEARN_URL", help="The relearn server the client commands talk to."),
    ] = DEFAULT_URL,
    timeout: Annotated[
        float,
        typer.Option(
            envvar="RELEARN_TIMEOUT", min=0.1, help="Seconds to wait for each HTTP answer."
        ),
    ] = 60.0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = client.Target(url=url.rstrip("/"), timeout=timeout)


app.command(rich_help_panel=SERVER_PANEL)(server.serve)
app.command(rich_help_panel=SERVER_PANEL)(server.worker)
app.add_typer(server.db_app, name="db", rich_help_panel=SERVER_PANEL)
app.add_typer(keys.keys_app, name="keys", rich_help_panel=SERVER_PANEL)

models_commands.models_app.command("update")(model_settings.models_update)
app.add_typer(models_commands.models_app, name="models", rich_help_panel=CLIENT_PANEL)
app.add_typer(aliases.alias_app, name="alias", rich_help_panel=CLIENT_PANEL)
for command in (
    chunks_commands.push,
    jobs_commands.status,
    jobs_commands.jobs,
    jobs_commands.cancel,
    jobs_commands.retry,
    versions_commands.versions,
    rollback.rollback,
    versions_commands.pull,
    versions_commands.metrics,
):
    app.command(rich_help_panel=CLIENT_PANEL)(command)


def main() -> None:
    app()
