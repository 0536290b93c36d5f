"""What ``cancel``, ``retry`` and Ctrl-C during ``push --follow`` tell the user, against the
real API (``conftest.api_url``; no worker runs, so pushed jobs stay queued)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.runner import Relearn, describe
from tests.cli.test_client_commands import create_model, push_chunk, write_chunk

RELEARN = str(Path(sys.executable).with_name("relearn"))


def test_cancel_says_what_happened(relearn: Relearn, tmp_path: Path) -> None:
    model = create_model(relearn, "cancel-says")
    accepted = push_chunk(relearn, model["id"], tmp_path)
    result = relearn.ok("cancel", accepted["job_id"])
    assert f"Job {accepted['job_id']} is cancelled" in result.stderr
    assert "publishes no version" in result.stderr


def test_retry_of_a_job_that_did_not_fail_is_refused(relearn: Relearn, tmp_path: Path) -> None:
    model = create_model(relearn, "retry-refused")
    accepted = push_chunk(relearn, model["id"], tmp_path)
    result = relearn("retry", accepted["job_id"])
    assert result.exit_code == 1, describe(result)
    assert "only a failed chunk job can be retried" in result.stderr


def test_ctrl_c_while_following_leaves_the_job_running_and_says_how_to_cancel(
    relearn: Relearn, tmp_path: Path
) -> None:
    # given: push --follow of a job that stays queued (no worker)
    model = create_model(relearn, "interrupted")
    chunk = write_chunk(tmp_path / "chunk.npz")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEARN_")}
    process = subprocess.Popen(
        [RELEARN, "--url", relearn.url, "push", str(chunk), "--model", model["id"], "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env | {"COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not relearn_jobs(relearn, model["id"]):
            time.sleep(0.2)
        time.sleep(1.0)
        # when: Ctrl-C
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    # then: exit 130, the job is still queued, and the message says how to stop it
    assert process.returncode == 130, stderr
    assert "keeps running on the server" in stderr
    job_id = relearn_jobs(relearn, model["id"])[-1]
    assert f"relearn cancel {job_id}" in stderr.replace("\n", " ")
    status = relearn.ok("status", job_id, "--json").stdout
    assert '"queued"' in status


def relearn_jobs(relearn: Relearn, model_id: str) -> list[str]:
    import json

    listing = json.loads(relearn.ok("jobs", "--model", model_id, "--json").stdout)
    return [j["id"] for j in listing["items"] if j.get("chunk_id")]
