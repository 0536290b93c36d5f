"""The README's examples run as written, against a real ``relearn serve`` (API + worker).

How blocks are chosen and marked: ``tests/docs/readme_blocks.py`` (and the comment at the
top of README.md). Runnable blocks run in document order, each in a fresh
``bash -euo pipefail`` (or ``python``), all in one working directory, so files an earlier
block made are there; shell variables do not carry over: each block captures the ids it
uses. ``localhost:8000`` / ``127.0.0.1:8000`` in a block are pointed at the test's server,
and ``RELEARN_URL`` / ``RELEARN_HOME`` are those of that server, as for a user of it.
Each block must exit 0; at the end every model the walkthrough made has versions and no
job failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.docs.readme_blocks import Block, pointed_at, read_blocks
from tests.e2e.processes import BIN, Processes, wait_http
from tests.e2e.service import base_env
from tests.services import free_port

pytestmark = pytest.mark.e2e

BLOCKS = read_blocks()
RUN = [block for block in BLOCKS if block.runs]
BLOCK_SECONDS = 540
FINAL = {"succeeded", "failed", "cancelled"}
# A bare MODEL_ID, JOB_ID... for the reader to fill in (not $MODEL_ID, not MODEL_ID=...).
PLACEHOLDER = re.compile(r"(?<![$\w{])(?:MODEL|JOB|KEY|VERSION)_ID(?![\w=}])|rlk_\.\.\.")


@dataclass
class Server:
    url: str
    home: Path
    env: dict[str, str]
    processes: Processes


def start_server(folder: Path) -> Server:
    """``relearn serve`` on a free port, as a user starts it (``make serve`` does this)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    home = folder / "home"
    env = base_env(home) | {
        "RELEARN_PORT": str(port),
        "RELEARN_URL": f"http://127.0.0.1:{port}",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    processes = Processes(folder, env)
    serve = processes.start("serve", str(BIN / "relearn"), "serve")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", serve, timeout=120)
    except BaseException:
        processes.stop_all()
        raise
    return Server(url, home, env, processes)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme-workdir")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_server(tmp_path_factory.mktemp("readme-server"))
    try:
        yield started
    finally:
        started.processes.stop_all()


def run_block(block: Block, server: Server, workdir: Path) -> subprocess.CompletedProcess[str]:
    code = pointed_at(block.code, server.url)
    command = ["bash", "-euo", "pipefail", "-c", code]
    if block.runner == "python":
        command = [str(BIN / "python"), "-c", code]
    return subprocess.run(
        command,
        cwd=workdir,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=BLOCK_SECONDS,
        stdin=subprocess.DEVNULL,
    )


def test_the_readme_has_runnable_blocks_and_marks_the_others() -> None:
    # then: the walkthroughs are there to run, and what is not run says why
    assert len(RUN) >= 5
    assert all(block.reason for block in BLOCKS if block.marker == "skip")
    for block in RUN:  # (a $VARIABLE never set fails the block: bash -u)
        left = PLACEHOLDER.findall(block.code)
        assert not left, f"README.md:{block.line}: placeholder {left} left unfilled"


@pytest.mark.timeout(BLOCK_SECONDS + 60)
@pytest.mark.parametrize("block", RUN, ids=[block.id for block in RUN])
def test_a_readme_block_runs_as_written(
    block: Block, server: Server, workdir: Path, tmp_path: Path
) -> None:
    # given: the shared server, or (own-server) a fresh one
    target = server
    if block.marker == "own-server":
        target = start_server(tmp_path / "own-server")
    try:
        # when
        result = run_block(block, target, workdir)
    finally:
        if target is not server:
            target.processes.stop_all()

    # then
    assert result.returncode == 0, (
        f"README.md:{block.line} ({block.heading}) exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}\n"
        f"--- server\n{target.processes.logs()[-4000:]}\n"
        "(a block that must not run here: mark it <!-- readme-test: skip REASON -->)"
    )


def test_after_the_readme_the_models_have_versions_and_no_job_failed(server: Server) -> None:
    # given: every block above has run (this test comes last in the file)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        models = client.get("/v1/models", params={"limit": 100}).json()["items"]
        # when: the worker has finished what the blocks queued
        deadline = time.monotonic() + 300
        jobs: list[dict] = []
        while time.monotonic() < deadline:
            jobs = [
                job
                for model in models
                for job in client.get(f"/v1/models/{model['id']}/jobs").json()["items"]
            ]
            if all(job["status"] in FINAL for job in jobs):
                break
            time.sleep(1)

    # then: models with versions made from the README's chunks, and no failure
    assert models, "the README made no model (run the whole file: its blocks run first)"
    assert [job for job in jobs if job["status"] not in FINAL] == []
    assert [(job["id"], job["error"]) for job in jobs if job["status"] == "failed"] == []
    assert [m["name"] for m in models if m["status"] == "failed"] == []
    trained = [m["name"] for m in models if m["latest_version"] >= 1]
    assert {"digits", "digits-der", "digits-cnn"} <= set(trained)
