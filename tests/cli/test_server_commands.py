"""``relearn db`` against real databases, and the worker child process ``serve`` manages.

``relearn serve`` itself runs end to end in ``tests/e2e``; here are its parts.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.cli.server import browsable_host, masked
from app.cli.worker_process import WorkerProcess, worker_command
from app.config import get_settings
from app.db.migrate import head_revision
from tests.cli.runner import describe


@pytest.fixture
def settings_env(relearn_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings from a clean environment with RELEARN_HOME set (the cached settings are
    dropped before and after, as each real process reads its own)."""
    for key in list(os.environ):
        if key.startswith("RELEARN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RELEARN_HOME", str(relearn_home))
    get_settings.cache_clear()
    yield relearn_home
    get_settings.cache_clear()


def test_db_current_then_upgrade_on_the_embedded_sqlite(settings_env: Path) -> None:
    # given: a home with no database yet
    runner = CliRunner()

    # when
    before = runner.invoke(app, ["db", "current"])
    upgrade = runner.invoke(app, ["db", "upgrade"])
    again = runner.invoke(app, ["db", "upgrade"])
    after = runner.invoke(app, ["db", "current"])

    # then: not at head (exit 1), migrated, idempotent, at head (exit 0)
    head = head_revision()
    assert before.exit_code == 1, describe(before)
    assert "relearn db upgrade" in before.stderr
    assert upgrade.exit_code == 0, describe(upgrade)
    assert f"migrated from empty to {head}" in upgrade.stderr
    assert (settings_env / "relearn.db").exists()
    assert again.exit_code == 0, describe(again)
    assert "already at the latest revision" in again.stderr
    assert after.exit_code == 0, describe(after)
    assert f"current: {head}" in after.stdout


def test_db_upgrade_on_postgresql(
    settings_env: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: an empty PostgreSQL database named by RELEARN_DATABASE_URL
    monkeypatch.setenv("RELEARN_DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    runner = CliRunner()

    # when
    upgrade = runner.invoke(app, ["db", "upgrade"])
    current = runner.invoke(app, ["db", "current"])

    # then
    assert upgrade.exit_code == 0, describe(upgrade)
    assert current.exit_code == 0, describe(current)
    assert f"current: {head_revision()}" in current.stdout
    assert not (settings_env / "relearn.db").exists()


def test_db_upgrade_names_an_unreachable_database_without_its_password(
    settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a PostgreSQL URL with a password, on a port nothing listens on
    from tests.services import free_port

    url = f"postgresql+psycopg://relearn:s3cret@127.0.0.1:{free_port()}/relearn"
    monkeypatch.setenv("RELEARN_DATABASE_URL", url)
    get_settings.cache_clear()

    # when
    result = CliRunner().invoke(app, ["db", "upgrade"])

    # then
    assert result.exit_code == 1, describe(result)
    assert "cannot use the database postgresql+psycopg://relearn:***@127.0.0.1" in result.stderr
    assert "s3cret" not in result.output


def test_worker_command_runs_the_solo_pool_on_the_queue() -> None:
    # when
    command = worker_command(queue="gpu-a100", loglevel="warning", hostname="w1@%h")

    # then: one process, one job at a time, on the given queue, with the same Python
    assert command[:6] == [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app:celery",
        "worker",
    ]
    assert "--pool=solo" in command
    assert "--concurrency=1" in command
    assert command[command.index("-Q") + 1] == "gpu-a100"
    assert "--loglevel=WARNING" in command
    assert "--hostname=w1@%h" in command


def test_worker_command_gives_each_worker_its_own_node_name() -> None:
    # when
    names = {
        next(a for a in worker_command(queue="gpu") if a.startswith("--hostname="))
        for _ in range(3)
    }

    # then
    assert len(names) == 3


def python_child(code: str) -> WorkerProcess:
    return WorkerProcess([sys.executable, "-c", code])


def test_stopping_a_worker_sends_sigterm_and_waits(tmp_path: Path) -> None:
    # given: a child that exits cleanly on SIGTERM after writing a mark
    mark = tmp_path / "stopped"
    child = python_child(
        "import signal, sys, time, pathlib\n"
        f"def stop(*_): pathlib.Path({str(mark)!r}).write_text('ok'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    child.start()
    time.sleep(0.5)

    # when
    code = child.stop(timeout=10)

    # then
    assert code == 0
    assert mark.read_text() == "ok"


def test_a_worker_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    # given: a child that ignores SIGTERM
    child = python_child(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
    )
    child.start()
    time.sleep(0.5)

    # when
    started = time.monotonic()
    code = child.stop(timeout=0.5)

    # then
    assert code == -9
    assert time.monotonic() - started < 5


def test_masked_hides_passwords_only() -> None:
    assert masked("postgresql+psycopg://u:pw@db:5432/x") == "postgresql+psycopg://u:***@db:5432/x"
    assert masked("redis://redis:6379/0") == "redis://redis:6379/0"
    assert masked("sqlite:////tmp/relearn.db") == "sqlite:////tmp/relearn.db"
    assert masked(None) == "-"


def test_browsable_host_of_wildcard_addresses() -> None:
    assert browsable_host("0.0.0.0") == "127.0.0.1"
    assert browsable_host("::") == "[::1]"
    assert browsable_host("::1") == "[::1]"
    assert browsable_host("localhost") == "localhost"
