"""Upload folders: removed after each request, and swept at start when a killed API left
them, but never while a live process (this one or another) still uses them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.api.upload_folders import (
    PREFIX,
    UNLOCKED_GRACE_SECONDS,
    sweep_stale_upload_folders,
    upload_folder,
)
from app.db.migrate import upgrade_to_head
from tests.api.harness import Api, embedded_settings
from tests.api.jobs_helpers import post_chunk
from tests.api.live_server import REPO
from tests.api.payloads import chunk_arrays, model_body, npz_bytes

HOLD_A_FOLDER = """
import sys, time
from pathlib import Path
from app.api.upload_folders import upload_folder
with upload_folder(Path(sys.argv[1])) as folder:
    (folder / "upload").write_bytes(bytes(1 << 20))
    print(folder, flush=True)
    time.sleep(120)
"""


@contextmanager
def folder_held_by_another_process(root: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_FOLDER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert child.stdout is not None
        yield Path(child.stdout.readline().strip()), child
    finally:
        child.kill()
        child.wait()


def killed_apis_folder(root: Path) -> Path:
    """A folder whose process was SIGKILLed mid-upload, as a crashed API leaves it."""
    with folder_held_by_another_process(root) as (folder, child):
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert (folder / "upload").exists()
    return folder


def test_a_sweep_removes_exactly_the_folders_no_live_process_holds(tmp_path: Path) -> None:
    # given: a killed process's folder, one of a live process, one of this process, and
    # two without a lock file (an older relearn's): one old, one just made
    dead = killed_apis_folder(tmp_path)
    old_unlocked = tmp_path / f"{PREFIX}old"
    old_unlocked.mkdir()
    long_ago = time.time() - 2 * UNLOCKED_GRACE_SECONDS
    os.utime(old_unlocked, (long_ago, long_ago))
    new_unlocked = tmp_path / f"{PREFIX}new"
    new_unlocked.mkdir()
    other = tmp_path / "not-an-upload"
    other.mkdir()

    with folder_held_by_another_process(tmp_path) as (alive, _), upload_folder(tmp_path) as mine:
        # when
        removed = sweep_stale_upload_folders(tmp_path)

        # then
        assert sorted(removed) == sorted([dead, old_unlocked])
        assert not dead.exists() and not old_unlocked.exists()
        assert alive.exists() and mine.exists() and new_unlocked.exists() and other.exists()
    assert not mine.exists()  # removed by its owner at the end


def test_the_app_sweeps_stale_folders_as_it_starts(
    relearn_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a killed API's folder in the temporary directory
    uploads = tmp_path / "tmp"
    uploads.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(uploads))
    stale = killed_apis_folder(uploads)
    settings = embedded_settings(relearn_home)
    upgrade_to_head(settings.database_url)

    # when
    with TestClient(create_app(settings)):
        # then
        assert not stale.exists()


def test_each_request_removes_its_folder_whatever_the_answer(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    uploads = tmp_path / "tmp"
    uploads.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(uploads))
    model = api.client.post("/v1/models", json=model_body()).json()

    # when: one accepted chunk, one refused
    accepted = post_chunk(api, model["id"], npz_bytes(chunk_arrays()))
    refused = post_chunk(api, model["id"], b"not a chunk")

    # then
    assert (accepted.status_code, refused.status_code) == (202, 422)
    assert list(uploads.glob(f"{PREFIX}*")) == []
