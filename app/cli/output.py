"""Where the CLI writes: results on stdout, messages, progress and errors on stderr.

Keeping the two apart lets ``relearn status JOB --follow --json | jq`` show a progress bar
on the terminal while the pipe receives nothing but JSON. Consoles are made per call so
that they write to whatever ``sys.stdout``/``sys.stderr`` are at that moment (a test
runner swaps them).
"""

from __future__ import annotations

import json
import sys
from enum import IntEnum
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from app.cli.http import Problem


class ExitCode(IntEnum):
    """The CLI's exit statuses (2 is click's own, for a usage error)."""

    OK = 0
    FAILED = 1  # the API refused the request, or the followed job failed/was cancelled
    UNREACHABLE = 3  # no answer from the server
    TIMEOUT = 4  # --follow gave up before the job was final


def out() -> Console:
    return Console(soft_wrap=True)


def err() -> Console:
    return Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """JSON on stdout: highlighted on a terminal, plain (and pipe-safe) otherwise."""
    if sys.stdout.isatty():
        out().print_json(data=data)
    else:
        typer.echo(json.dumps(data, indent=2))


def note(message: str) -> None:
    """A message for the person at the terminal (rich markup allowed)."""
    err().print(message, highlight=False)


def print_problem(problem: Problem) -> None:
    """``Error 422 Invalid input`` then the detail and one line per offending field."""
    console = err()
    console.print(
        f"[bold red]Error {problem.status}[/] [bold]{escape(problem.title)}[/]", highlight=False
    )
    repeated = bool(problem.errors) and (problem.detail or "").startswith(
        f"{problem.errors[0].field}: {problem.errors[0].reason}"
    )
    if problem.detail and not repeated:  # the service's detail repeats the first field
        console.print(f"  {escape(problem.detail)}", highlight=False)
    for item in problem.errors:
        console.print(f"  [cyan]{escape(item.field)}[/]: {escape(item.reason)}", highlight=False)


def fail(message: str, code: ExitCode = ExitCode.FAILED) -> typer.Exit:
    """Print ``message`` as an error; ``raise fail(...)`` then ends the command."""
    err().print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(int(code))
