"""CLI fixtures: the real API (``create_app``) served by uvicorn on a free loopback port,
on embedded settings under a temporary RELEARN_HOME, and a runner for ``relearn``.

No worker runs: pushed chunks stay ``queued``, which is what the client commands are
tested against (the worker and ``relearn serve`` have end-to-end tests of their own).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import uvicorn
from click.testing import Result
from typer.testing import CliRunner

from app.cli import app
from app.config import Settings
from tests.conftest import free_port


def embedded_settings(home: Path) -> Settings:
    """Every URL given explicitly, so that no RELEARN_* variable of the caller leaks in."""
    return Settings(home=home, database_url=None, storage_url=None, broker_url=None)


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real relearn API running in a background thread."""
    from app.api.main import create_app
    from app.db.migrate import upgrade_to_head

    settings = embedded_settings(tmp_path_factory.mktemp("relearn-home"))
    assert settings.database_url is not None
    upgrade_to_head(settings.database_url)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="relearn-test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


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


@pytest.fixture
def relearn(api_url: str) -> Relearn:
    return Relearn(api_url)


def mlp_args(name: str, input_dim: int = 4, num_classes: int = 3) -> Sequence[str]:
    return (
        "models", "create", "--name", name, "--input-dim", str(input_dim),
        "--hidden", "8", "--num-classes", str(num_classes),
    )  # fmt: skip
