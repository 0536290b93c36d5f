"""Running ``relearn`` in-process against a URL, and reading its results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from app.cli import app
from app.config import Settings


def embedded_settings(home: Path) -> Settings:
    """Every URL given explicitly, so that no RELEARN_* variable of the caller leaks in."""
    return Settings(home=home, database_url=None, storage_url=None, broker_url=None)


class Relearn:
    """``relearn --url URL ARGS...`` in-process through typer's runner."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner(env={"COLUMNS": "200"})  # rich tables wrap at 80 otherwise

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(app, ["--url", self.url, *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, describe(result)
        return result


def describe(result: Result) -> str:
    return f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}" + (
        f"\nexception: {result.exception!r}" if result.exception else ""
    )


def mlp_args(name: str, input_dim: int = 4, num_classes: int = 3) -> Sequence[str]:
    return (
        "models", "create", "--name", name, "--input-dim", str(input_dim),
        "--hidden", "8", "--num-classes", str(num_classes),
    )  # fmt: skip


# The apps the CLI tests serve, by base URL, so a test can act as their worker.
SERVED_APPS: dict[str, Any] = {}


def make_version_zero(api_url: str, model_id: str) -> None:
    """Run the model's initialise job with the real job runner, as a worker would."""
    from types import SimpleNamespace

    from tests.api.initialised import make_version_zero as run_initialise

    app = SERVED_APPS[api_url]
    run_initialise(SimpleNamespace(sessions=app.state.sessions, store=app.state.store), model_id)  # type: ignore[arg-type]
