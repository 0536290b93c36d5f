"""What every client command shares: the server it talks to (``--url``/``RELEARN_URL``),
the API session that turns problem+json answers into a readable message and a non-zero
exit (see ``ExitCode``), the common options, and printing (``--json`` prints the API's
JSON for scripts).

The commands themselves live by concept in ``models_commands``, ``chunks_commands``,
``jobs_commands`` and ``versions_commands`` (and ``aliases``, ``rollback``,
``model_settings``); ``app/cli/__init__.py`` registers them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import RenderableType

from app.cli.follow import follow_job, is_final
from app.cli.http import DEFAULT_URL, ApiClient, ApiError, ChecksumMismatch, ServerUnreachable
from app.cli.output import ExitCode, fail, note, out, print_json, print_problem
from app.cli.views import job_view


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
