"""Following a job that waits with no worker alive: the CLI says so, and how to start one;
with a worker's heartbeat recent, it says nothing of the kind."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from app.api.main import create_app
from app.db.migrate import upgrade_to_head
from app.db.models import Worker, utcnow
from tests.cli.runner import Relearn, embedded_settings, mlp_args
from tests.serving import served

NO_WORKER = "No worker is running"


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Relearn, sessionmaker[Session]]]:
    settings = embedded_settings(tmp_path_factory.mktemp("relearn-home"))
    upgrade_to_head(settings.database_url)
    app = create_app(settings)
    with served(app) as url:
        yield Relearn(url), app.state.sessions


def chunk_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 4)).astype(np.float32), rng.integers(0, 3, 12)
    np.savez(tmp_path / "chunk.npz", x=x, y=y)
    return tmp_path / "chunk.npz"


def push_and_follow(relearn: Relearn, tmp_path: Path, name: str) -> tuple[int, str]:
    model = json.loads(relearn.ok(*mlp_args(name)).stdout)
    result = relearn(
        "push", str(chunk_file(tmp_path)), "--model", model["id"], "--follow",
        "--interval", "0.1", "--max-wait", "1.5",
    )  # fmt: skip
    return result.exit_code, result.stderr


def test_a_push_that_waits_with_no_worker_says_so_and_how_to_start_one(
    api: tuple[Relearn, sessionmaker[Session]], tmp_path: Path
) -> None:
    # given: no worker ever started
    relearn, sessions = api
    with sessions.begin() as session:
        session.execute(delete(Worker))

    # when
    exit_code, stderr = push_and_follow(relearn, tmp_path, "waiting")

    # then: still waiting when --max-wait runs out, and the reason given once
    assert exit_code == 4, stderr
    assert stderr.count(NO_WORKER) == 1
    assert "relearn worker" in stderr


def test_with_a_live_worker_it_does_not_say_none_is_running(
    api: tuple[Relearn, sessionmaker[Session]], tmp_path: Path
) -> None:
    # given: a worker whose heartbeat is recent (busy elsewhere: the job stays queued)
    relearn, sessions = api
    with sessions.begin() as session:
        session.add(Worker(id=uuid.uuid4().hex, hostname="h", architectures=[], last_seen=utcnow()))

    # when
    exit_code, stderr = push_and_follow(relearn, tmp_path, "busy")

    # then
    assert exit_code == 4, stderr
    assert NO_WORKER not in stderr
