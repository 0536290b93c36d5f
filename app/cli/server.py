"""Server-side commands: ``relearn serve``, ``relearn worker`` and ``relearn db``.

They read the one ``app.config.Settings`` (``RELEARN_*`` variables). Heavy imports
(uvicorn, alembic, the API) happen inside the commands, so that the client commands start
fast; nothing here imports torch (the worker imports it in its own process).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.panel import Panel
from rich.table import Table

from app.cli.http import cli_version
from app.cli.keys import exposure_problem
from app.cli.output import ExitCode, err, fail, note
from app.cli.worker_process import WorkerProcess, default_hostname, worker_command
from app.config import Settings, get_settings

API_FACTORY = "app.api.main:create_app"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


def masked(url: str | None) -> str:
    """The URL with its password hidden: banners and errors end up in logs."""
    if not url:
        return "-"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def browsable_host(host: str) -> str:
    """Where a browser on this machine reaches a server listening on ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def broker_description(settings: Settings) -> str:
    if settings.is_embedded_broker:
        return f"filesystem (no server), folder {settings.broker_folder}"
    return masked(settings.broker_url)


def migrate_embedded(settings: Settings) -> str:
    """Bring the SQLite database to the latest schema; return the revision it is at."""
    from app.db.migrate import head_revision, upgrade_to_head

    upgrade_to_head(settings.database_url)
    return head_revision()


def banner(
    settings: Settings, url: str, schema: str, workers: list[WorkerProcess], queue: str
) -> Panel:
    rows = Table.grid(padding=(0, 2))
    rows.add_column(style="bold")
    rows.add_column(overflow="fold")
    rows.add_row("API", url)
    rows.add_row("Docs", f"{url}/docs")
    rows.add_row("Database", f"{masked(settings.database_url)} ({schema})")
    rows.add_row("Storage", masked(settings.storage_url))
    rows.add_row("Broker", broker_description(settings))
    pids = ", ".join(str(w.pid) for w in workers) or "none (start `relearn worker` elsewhere)"
    rows.add_row("Workers", f"{pids}; queue {queue}, pool solo, device {settings.device}")
    return Panel(rows, title=f"relearn {cli_version()}", title_align="left", expand=False)


def interrupt(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM ends ``serve`` as Ctrl-C does: by unwinding, so that the workers get stopped.
    (uvicorn handles both while it serves, then raises them again once it has stopped.)"""
    raise KeyboardInterrupt


def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to listen on. \\[default: RELEARN_HOST or 127.0.0.1]"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port. \\[default: RELEARN_PORT or 8000]"),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Celery workers to start beside the API, each a solo-pool process. "
            "0 serves the API alone (run `relearn worker` elsewhere).",
        ),
    ] = 1,
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", "--loglevel", case_sensitive=False)
    ] = LogLevel.INFO,
    stop_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="On exit, seconds to let a worker finish its current job before killing it "
            "(a killed job is delivered again on the next start).",
        ),
    ] = 30.0,
) -> None:
    """Run the API and a worker on this machine: the embedded one-machine setup.

    With no configuration everything lives under RELEARN_HOME (default ./.relearn): a SQLite
    database (migrated first), a folder of objects and a broker that needs no server. Against
    an external database (RELEARN_DATABASE_URL) run `relearn db upgrade` once per release:
    the API refuses a database that is not at the latest schema. Ctrl-C or SIGTERM stops the
    API, then the worker, cleanly.
    """
    import uvicorn

    from app.logs import configure_logging

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    queue = settings.queue_name  # the API sends to it: RELEARN_QUEUE_NAME for both
    url = f"http://{browsable_host(host)}:{port}"

    if settings.is_sqlite:
        try:
            schema = f"migrated to {migrate_embedded(settings)}"
        except Exception as exc:
            raise fail(f"could not migrate {masked(settings.database_url)}: {exc}") from exc
    else:
        schema = "not migrated by serve: `relearn db upgrade`"
    if (problem := exposure_problem(settings, host)) is not None:
        raise fail(problem)

    children = [
        WorkerProcess(
            worker_command(queue=queue, loglevel=log_level.value, hostname=default_hostname())
        )
        for _ in range(workers)
    ]
    worker_died = threading.Event()
    configure_logging(log_level.value.upper(), log_format=settings.log_format)
    config = uvicorn.Config(
        API_FACTORY,
        factory=True,
        host=host,
        port=port,
        log_level=log_level.value.lower(),
        log_config=None,  # app/logs.py's structured lines
        access_log=False,  # app/api/request_log.py writes one line per request
    )
    server = uvicorn.Server(config)
    previous_sigterm = signal.signal(signal.SIGTERM, interrupt)

    def watch(child: WorkerProcess) -> None:
        """A worker that dies while the API serves takes the API down with it: a server
        that accepts chunks nobody will train on would fail silently."""
        code = child.wait()
        if not child.stopping and not server.should_exit:
            note(f"[bold red]The Celery worker (pid {child.pid}) exited with status {code}.[/]")
            worker_died.set()
            server.should_exit = True

    try:
        for child in children:
            child.start()
            threading.Thread(target=watch, args=(child,), daemon=True).start()
        err().print(banner(settings, url, schema, children, queue))
        server.run()
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM: a normal way to stop a server
    finally:
        if any(child.poll() is None for child in children):
            note(f"Stopping the worker (up to {stop_timeout:g}s for a job in progress)…")
        for child in children:
            child.stop(stop_timeout)
        signal.signal(signal.SIGTERM, previous_sigterm)
    if worker_died.is_set():
        raise typer.Exit(int(ExitCode.FAILED))
    if not server.started:
        raise typer.Exit(int(ExitCode.FAILED))


def worker(
    queue: Annotated[
        str | None,
        typer.Option(
            help="Queue to consume; the API sends jobs to RELEARN_QUEUE_NAME, so a different "
            "queue receives none. \\[default: RELEARN_QUEUE_NAME or gpu]"
        ),
    ] = None,
    loglevel: Annotated[
        LogLevel, typer.Option("--loglevel", "--log-level", case_sensitive=False)
    ] = LogLevel.INFO,
    hostname: Annotated[
        str | None,
        typer.Option(help="Celery node name. \\[default: a unique relearn-XXXXXXXX@%h]"),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help="torch device: auto, cpu, cuda:N. \\[default: RELEARN_DEVICE or auto]"),
    ] = None,
) -> None:
    """Run one Celery worker in the foreground (solo pool, one job at a time).

    It trains on the device RELEARN_DEVICE names (auto: the first GPU if there is one).
    Start one per GPU (CUDA_VISIBLE_DEVICES=N relearn worker), on as many machines as you
    like, with the same RELEARN_DATABASE_URL, RELEARN_BROKER_URL and RELEARN_STORAGE_URL as
    the API.
    """
    settings = get_settings()
    command = worker_command(
        queue=queue or settings.queue_name, loglevel=loglevel.value, hostname=hostname
    )
    if device is not None:
        os.environ["RELEARN_DEVICE"] = device
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: signals (SIGTERM from an orchestrator) go straight to Celery.
    os.execvp(command[0], command)


db_app = typer.Typer(
    help="Database schema migrations (alembic).", no_args_is_help=True, rich_markup_mode="markdown"
)


def revision_of(database_url: str) -> str | None:
    from app.db.migrate import current_revision
    from app.db.session import make_engine

    engine = make_engine(database_url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def revision_before_upgrade(database_url: str) -> str | None:
    """The current revision, without creating a SQLite file that does not exist yet."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        if not Path(url.database).expanduser().exists():
            return None
    return revision_of(database_url)


def database_error(settings: Settings, exc: Exception) -> typer.Exit:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return fail(f"cannot use the database {masked(settings.database_url)}: {reason}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database (RELEARN_DATABASE_URL) to the latest schema.

    Safe to run again: at the latest schema it changes nothing. Run it once per release
    before starting the API and workers against an external database.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from app.db.migrate import upgrade_to_head

    settings = get_settings()
    try:
        before = revision_before_upgrade(settings.database_url)
        upgrade_to_head(settings.database_url)
        after = revision_of(settings.database_url)
    except SQLAlchemyError as exc:
        raise database_error(settings, exc) from exc
    where = f"Database {masked(settings.database_url)}"
    if before == after:
        note(f"{where} is already at the latest revision [bold]{after}[/].")
    else:
        note(f"{where} migrated from {before or 'empty'} to [bold]{after}[/] (latest).")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the latest one; exit 1 if they differ."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.db.migrate import UPGRADE_COMMAND, head_revision

    settings = get_settings()
    try:
        current = revision_of(settings.database_url)
    except SQLAlchemyError as exc:
        raise database_error(settings, exc) from exc
    head = head_revision()
    typer.echo(f"current: {current or 'none (empty database)'}")
    typer.echo(f"latest:  {head}")
    if current != head:
        raise fail(f"the database is not at the latest schema: run `{UPGRADE_COMMAND}`")
    note("[green]up to date[/]")
