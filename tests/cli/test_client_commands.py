"""The client commands against the real API (see ``conftest.api_url``): what they send,
what they print, and how they exit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.db.models import ModelVersion
from tests.cli.runner import SERVED_APPS, Relearn, describe, make_version_zero, mlp_args
from tests.services import free_port

INPUT_DIM = 4
NUM_CLASSES = 3


def write_chunk(path: Path, n: int = 24, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, INPUT_DIM)).astype(np.float32)
    y = rng.integers(0, NUM_CLASSES, size=n).astype(np.int64)
    np.savez(path, x=x, y=y, x_eval=x[: n // 2], y_eval=y[: n // 2])
    return path


def create_model(relearn: Relearn, name: str, *extra: str) -> dict:
    """Register a model through the CLI; a stand-in worker then makes its version 0."""
    model = json.loads(relearn.ok(*mlp_args(name, INPUT_DIM, NUM_CLASSES), *extra).stdout)
    make_version_zero(relearn.url, model["id"])
    return model


def push_chunk(relearn: Relearn, model_id: str, tmp_path: Path) -> dict:
    chunk = write_chunk(tmp_path / "chunk.npz")
    return json.loads(relearn.ok("push", str(chunk), "--model", model_id, "--json").stdout)


def test_models_create_prints_the_created_model_as_json(relearn: Relearn) -> None:
    # given: options for an MLP with an ER updater and two training settings

    # when
    result = relearn.ok(
        *mlp_args("digits", INPUT_DIM, NUM_CLASSES),
        "--updater", "er", "--param", "memory_size=200", "--epochs", "3", "--optimizer", "adam",
    )  # fmt: skip

    # then: stdout is the API's JSON of the new model, with what the options said
    model = json.loads(result.stdout)
    assert len(model["id"]) == 32
    assert model["name"] == "digits"
    assert model["latest_version"] == 0
    assert model["architecture"]["params"] == {
        "input_dim": INPUT_DIM,
        "hidden": [8],
        "num_classes": NUM_CLASSES,
    }
    assert model["updater"]["name"] == "er"
    assert model["updater"]["params"]["memory_size"] == 200
    assert (model["training"]["epochs"], model["training"]["optimizer"]) == (3, "adam")
    assert model["id"] in result.stderr  # and a line for people on stderr


def test_models_create_from_a_json_body_with_options_laid_over_it(
    relearn: Relearn, tmp_path: Path
) -> None:
    # given: a full body in a file, and a --name and an updater param on the command line
    body = {
        "name": "from-file",
        "architecture": {"name": "mlp", "params": {"input_dim": 5, "num_classes": 2}},
        "updater": {"name": "der", "params": {"alpha": 0.1}},
        "training": {"batch_size": 16},
    }
    body_file = tmp_path / "model.json"
    body_file.write_text(json.dumps(body))

    # when
    result = relearn.ok(
        "models", "create", "--json", str(body_file), "--name", "overridden", "-p", "beta=0.5"
    )

    # then: the file's fields were sent, the options won where both spoke
    model = json.loads(result.stdout)
    assert model["name"] == "overridden"
    assert model["architecture"]["params"]["input_dim"] == 5
    assert model["updater"]["name"] == "der"
    assert model["updater"]["params"]["alpha"] == 0.1
    assert model["updater"]["params"]["beta"] == 0.5
    assert model["training"]["batch_size"] == 16


def test_models_create_reads_the_body_from_standard_input(relearn: Relearn) -> None:
    # given
    body = {"name": "piped", "architecture": {"params": {"input_dim": 2, "num_classes": 2}}}

    # when
    result = relearn.ok("models", "create", "--json", "-", input=json.dumps(body))

    # then
    model = json.loads(result.stdout)
    assert model["name"] == "piped"
    assert model["architecture"]["params"]["input_dim"] == 2


def test_models_show_and_list(relearn: Relearn) -> None:
    # given
    model = create_model(relearn, "shown")

    # when
    shown = relearn.ok("models", "show", model["id"], "--json")
    listed = relearn.ok("models", "list", "--json")
    table = relearn.ok("models", "list")

    # then
    assert json.loads(shown.stdout)["id"] == model["id"]
    assert model["id"] in [m["id"] for m in json.loads(listed.stdout)["items"]]
    assert model["id"] in table.stdout
    assert f"mlp {INPUT_DIM}-8-{NUM_CLASSES}" in table.stdout


def test_push_uploads_an_npz_and_prints_the_queued_job(relearn: Relearn, tmp_path: Path) -> None:
    # given
    model = create_model(relearn, "pushed")
    chunk = write_chunk(tmp_path / "chunk.npz")

    # when
    result = relearn.ok("push", str(chunk), "--model", model["id"])

    # then: the job id and its status, on stdout
    job_id, status = result.stdout.split()[1:3]
    assert status == "queued"
    assert len(job_id) == 32
    assert f"relearn status {job_id} --follow" in result.stderr


def test_status_shows_the_pushed_job(relearn: Relearn, tmp_path: Path) -> None:
    # given: a chunk pushed with an updater of its own (no worker runs: it stays queued)
    model = create_model(relearn, "status")
    chunk = write_chunk(tmp_path / "chunk.npz")
    accepted = json.loads(
        relearn.ok(
            "push", str(chunk), "--model", model["id"], "--json",
            "--updater-json", '{"name": "der", "params": {"alpha": 0.2}}',
        ).stdout
    )  # fmt: skip

    # when
    as_json = relearn.ok("status", accepted["job_id"], "--json")
    for_people = relearn.ok("status", accepted["job_id"])

    # then
    job = json.loads(as_json.stdout)
    assert job["id"] == accepted["job_id"]
    assert job["model_id"] == model["id"]
    assert job["chunk_id"] == accepted["chunk_id"]
    assert job["status"] == "queued"
    assert job["updater"]["name"] == "der"
    assert job["updater"]["params"]["alpha"] == 0.2
    assert "queued" in for_people.stdout
    assert "der alpha=0.2" in for_people.stdout


def test_push_with_the_same_idempotency_key_returns_the_same_job(
    relearn: Relearn, tmp_path: Path
) -> None:
    # given
    model = create_model(relearn, "idempotent")
    chunk = write_chunk(tmp_path / "chunk.npz")
    args = ("push", str(chunk), "--model", model["id"], "--idempotency-key", "k-1", "--json")

    # when
    first = json.loads(relearn.ok(*args).stdout)
    again = json.loads(relearn.ok(*args).stdout)

    # then
    assert again["job_id"] == first["job_id"]


def test_pull_of_version_0_writes_the_bytes_the_etag_names(
    relearn: Relearn, api_url: str, tmp_path: Path
) -> None:
    # given: a new model, and the ETag the API announces for its version 0
    model = create_model(relearn, "pulled")
    artifact = httpx.get(f"{api_url}/v1/models/{model['id']}/versions/0/artifact")
    etag = artifact.headers["etag"].strip('"')
    target = tmp_path / "out" / "model.safetensors"

    # when
    result = relearn.ok("pull", "--model", model["id"], "--version", "0", "-o", str(target))

    # then: the file's sha256 is the ETag, and nothing else was left in the folder
    assert hashlib.sha256(target.read_bytes()).hexdigest() == etag
    assert target.read_bytes() == artifact.content
    assert [p.name for p in target.parent.iterdir()] == ["model.safetensors"]
    assert etag in result.stderr


def test_pull_latest_resolves_the_version_number(
    relearn: Relearn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a new model, and a working folder for the default file name
    model = create_model(relearn, "latest")
    monkeypatch.chdir(tmp_path)

    # when: no --version and no -o
    result = relearn.ok("pull", "--model", model["id"], "--json")

    # then: "latest" became 0 and the default name says so
    summary = json.loads(result.stdout)
    assert summary["version"] == 0
    assert summary["path"] == f"{model['id']}-v0.safetensors"
    written = tmp_path / summary["path"]
    assert hashlib.sha256(written.read_bytes()).hexdigest() == summary["sha256"]


def test_pull_of_a_program_not_exported_yet_fails_and_leaves_no_file(
    relearn: Relearn, tmp_path: Path
) -> None:
    # given: a version whose .pt2 is not recorded yet
    model = create_model(relearn, "no-pt2")
    with SERVED_APPS[relearn.url].state.sessions.begin() as session:
        session.get(ModelVersion, (model["id"], 0)).pt2_sha256 = None
    target = tmp_path / "model.pt2"

    # when: not waiting for it
    result = relearn(
        "pull", "--model", model["id"], "--version", "0", "--format", "pt2", "--wait", "0",
        "-o", str(target),
    )  # fmt: skip

    # then: the 409 is explained, and no partial file exists
    assert result.exit_code == 1, describe(result)
    assert "Error 409" in result.stderr
    assert "not exported yet" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_invalid_request_names_the_field_and_the_reason(relearn: Relearn) -> None:
    # given: an MLP without its required input dimension

    # when
    result = relearn("models", "create", "--name", "broken", "--num-classes", "3")

    # then: the problem's title, field and reason, and a non-zero exit
    assert result.exit_code == 1, describe(result)
    assert "Error 422 Invalid input" in result.stderr
    assert "architecture.params.input_dim: Field required" in result.stderr
    assert result.stdout == ""


def test_an_invalid_updater_parameter_names_its_path(relearn: Relearn) -> None:
    # given: a negative alpha for DER

    # when
    result = relearn(*mlp_args("bad-alpha"), "--updater", "der", "--param", "alpha=-1")

    # then
    assert result.exit_code == 1, describe(result)
    assert "updater.params.alpha:" in result.stderr
    assert "greater than or equal to 0" in result.stderr


def test_an_unknown_model_is_a_readable_404(relearn: Relearn, tmp_path: Path) -> None:
    # given
    chunk = write_chunk(tmp_path / "chunk.npz")

    # when
    result = relearn("push", str(chunk), "--model", "0" * 32)

    # then
    assert result.exit_code == 1, describe(result)
    assert "Error 404 Not found" in result.stderr
    assert "0" * 32 in result.stderr


def test_an_invalid_chunk_is_refused_with_its_field(relearn: Relearn, tmp_path: Path) -> None:
    # given: features of the wrong width for the model
    model = create_model(relearn, "wrong-width")
    chunk = tmp_path / "wide.npz"
    np.savez(chunk, x=np.zeros((4, INPUT_DIM + 1), np.float32), y=np.zeros(4, np.int64))

    # when
    result = relearn("push", str(chunk), "--model", model["id"])

    # then
    assert result.exit_code == 1, describe(result)
    assert "Error 422" in result.stderr
    assert "file.x" in result.stderr


def test_an_unreachable_server_is_said_so(tmp_path: Path) -> None:
    # given: a loopback port nobody listens on
    url = f"http://127.0.0.1:{free_port()}"

    # when
    result = Relearn(url)("models", "list")

    # then
    assert result.exit_code == 3, describe(result)
    assert f"not reachable at {url}" in result.stderr
    assert "relearn serve" in result.stderr


def test_cancel_then_follow_exits_1_for_a_cancelled_job(relearn: Relearn, tmp_path: Path) -> None:
    # given: a queued job, cancelled
    model = create_model(relearn, "cancelled")
    accepted = push_chunk(relearn, model["id"], tmp_path)
    cancelled = json.loads(relearn.ok("cancel", accepted["job_id"], "--json").stdout)

    # when
    result = relearn("status", accepted["job_id"], "--follow", "--interval", "0.05", "--json")

    # then: the final job on stdout, exit 1
    assert cancelled["status"] == "cancelled"
    assert result.exit_code == 1, describe(result)
    assert json.loads(result.stdout)["status"] == "cancelled"


def test_follow_gives_up_after_max_wait_with_exit_4(relearn: Relearn, tmp_path: Path) -> None:
    # given: a job that stays queued (no worker)
    model = create_model(relearn, "waiting")
    accepted = push_chunk(relearn, model["id"], tmp_path)

    # when
    result = relearn(
        "status", accepted["job_id"], "--follow", "--interval", "0.05", "--max-wait", "0.2"
    )

    # then
    assert result.exit_code == 4, describe(result)
    assert "still queued" in result.stderr


def test_cancelling_a_cancelled_job_is_a_conflict(relearn: Relearn, tmp_path: Path) -> None:
    # given
    model = create_model(relearn, "twice")
    accepted = push_chunk(relearn, model["id"], tmp_path)
    relearn.ok("cancel", accepted["job_id"])

    # when
    result = relearn("cancel", accepted["job_id"])

    # then
    assert result.exit_code == 1, describe(result)
    assert "Error 409 Conflict" in result.stderr
    assert "only a queued or running job can be cancelled" in result.stderr


def test_jobs_versions_and_metrics_of_a_new_model(relearn: Relearn, tmp_path: Path) -> None:
    # given: a model with one queued chunk
    model = create_model(relearn, "listing")
    accepted = push_chunk(relearn, model["id"], tmp_path)

    # when
    jobs = json.loads(relearn.ok("jobs", "--model", model["id"], "--json").stdout)
    versions = json.loads(relearn.ok("versions", "--model", model["id"], "--json").stdout)
    versions_table = relearn.ok("versions", "--model", model["id"]).stdout
    metrics = json.loads(relearn.ok("metrics", "--model", model["id"], "--json").stdout)
    metrics_text = relearn.ok("metrics", "--model", model["id"]).stdout

    # then
    assert [j["id"] for j in jobs["items"]] == [accepted["job_id"]]
    assert [v["number"] for v in versions["items"]] == [0]
    assert versions["items"][0]["artifact_sha256"][:12] in versions_table
    assert metrics["accuracy_matrix"] == []
    assert "No versions trained on chunks yet" in metrics_text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--param", "memory_size"), "expected KEY=VALUE"),
        (("--hidden", "256,x"), "comma-separated integers"),
        (("--optimizer", "rmsprop"), "rmsprop"),
    ],
)
def test_bad_options_are_usage_errors_before_any_request(
    args: tuple[str, ...], message: str
) -> None:
    # given: a URL nothing listens on, so that any request would exit 3
    relearn = Relearn(f"http://127.0.0.1:{free_port()}")

    # when
    result = relearn(*mlp_args("usage"), *args)

    # then
    assert result.exit_code == 2, describe(result)
    assert message in result.stderr


def test_updater_json_must_be_an_object(relearn: Relearn, tmp_path: Path) -> None:
    # given
    chunk = write_chunk(tmp_path / "chunk.npz")

    # when
    result = relearn("push", str(chunk), "--model", "0" * 32, "--updater-json", "[1, 2]")

    # then
    assert result.exit_code == 2, describe(result)
    assert "expected a JSON object" in result.stderr
