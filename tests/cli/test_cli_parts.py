"""The CLI's parts that need no server: help texts, option parsing, problem parsing, and
the promise that the CLI never imports torch (it runs in the API image, which has none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from app.cli import app
from app.cli.http import Problem, ProblemField, etag_digest, segment
from app.cli.model_body import build_model_body, parse_assignments, parse_hidden
from app.cli.views import flat_metrics
from tests.cli.runner import describe

RELEARN = Path(sys.executable).parent / "relearn"

HELP_MENTIONS = {
    (): ["serve", "worker", "db", "models", "push", "status", "pull", "metrics", "RELEARN_URL"],
    ("serve",): ["RELEARN_HOME", "relearn db upgrade", "solo", "--workers", "--port"],
    ("worker",): ["solo", "CUDA_VISIBLE_DEVICES", "--queue", "--loglevel"],
    ("db",): ["upgrade", "current"],
    ("db", "upgrade"): ["latest schema"],
    ("db", "current"): ["exit 1"],
    ("models",): ["create", "list", "show"],
    ("models", "create"): ["--input-dim", "--hidden", "--num-classes", "--param", "--json"],
    ("models", "list"): ["--json"],
    ("models", "show"): ["ID"],
    ("push",): ["--model", "--updater-json", "--idempotency-key", "--follow"],
    ("status",): ["--follow", "--max-wait", "--json"],
    ("jobs",): ["--model"],
    ("cancel",): ["queued"],
    ("versions",): ["--model"],
    ("pull",): ["--version", "--format", "safetensors", "pt2", "--output", "ETag"],
    ("metrics",): ["ACC", "BWT", "forgetting"],
}


@pytest.mark.parametrize("command", list(HELP_MENTIONS), ids=" ".join)
def test_every_command_explains_itself(command: tuple[str, ...]) -> None:
    # when
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*command, "--help"])

    # then
    assert result.exit_code == 0, describe(result)
    for word in HELP_MENTIONS[command]:
        assert word in result.stdout, f"{word!r} missing from `relearn {' '.join(command)} -h`"


def test_the_console_script_and_the_cli_never_import_torch(tmp_path: Path) -> None:
    # given: the installed `relearn` script, and a fresh interpreter
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEARN_")}
    env["RELEARN_HOME"] = str(tmp_path)
    probe = (
        "import sys\n"
        "import app.cli, app.cli.server, app.cli.client, app.cli.worker_process\n"
        "import app.api.main  # what `relearn serve` runs in-process\n"
        "assert 'torch' not in sys.modules, 'the CLI imported torch'\n"
    )

    # when
    version = subprocess.run(
        [str(RELEARN), "--version"], env=env, capture_output=True, text=True, timeout=60
    )
    imports = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )

    # then
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("relearn ")
    assert imports.returncode == 0, imports.stderr


def test_assignments_are_parsed_as_json_values_or_strings() -> None:
    # when
    values = parse_assignments(
        ["memory_size=200", "alpha=0.3", "flag=true", "hidden=[1, 2]", "name=adam", "x = 1"],
        "--param",
    )

    # then
    assert values == {
        "memory_size": 200,
        "alpha": 0.3,
        "flag": True,
        "hidden": [1, 2],
        "name": "adam",
        "x": 1,
    }


def test_an_assignment_without_a_key_is_refused() -> None:
    with pytest.raises(typer.BadParameter, match="KEY=VALUE"):
        parse_assignments(["=3"], "--param")


def test_hidden_widths() -> None:
    assert parse_hidden("256,256") == [256, 256]
    assert parse_hidden("64") == [64]
    assert parse_hidden("") == []
    with pytest.raises(typer.BadParameter):
        parse_hidden("256;256")


def test_options_are_laid_over_the_json_body() -> None:
    # given: a body from --json, and options for some of its fields
    base = {
        "name": "a",
        "architecture": {"name": "mlp", "params": {"input_dim": 3, "num_classes": 2}},
        "updater": {"name": "der", "params": {"alpha": 0.1}},
        "training": {"epochs": 5},
    }

    # when
    body = build_model_body(
        base=base,
        name=None,
        architecture=None,
        architecture_params={"hidden": [4]},
        updater=None,
        updater_params={"beta": 0.5},
        training={"epochs": None, "lr": 0.1},
    )

    # then: given options replace or add, absent ones (None) leave the body alone
    assert body == {
        "name": "a",
        "architecture": {
            "name": "mlp",
            "params": {"input_dim": 3, "num_classes": 2, "hidden": [4]},
        },
        "updater": {"name": "der", "params": {"alpha": 0.1, "beta": 0.5}},
        "training": {"epochs": 5, "lr": 0.1},
    }


def test_only_given_options_are_sent() -> None:
    # when
    body = build_model_body(
        base=None,
        name="m",
        architecture=None,
        architecture_params={},
        updater="er",
        updater_params={},
        training={"epochs": None, "seed": 3},
    )

    # then: the server fills in everything else
    assert body == {"name": "m", "updater": {"name": "er"}, "training": {"seed": 3}}


def response(status: int, body: object, content_type: str = "application/json") -> httpx.Response:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers={"content-type": content_type})


def test_problem_from_the_services_problem_json() -> None:
    # given
    body = {
        "type": "about:blank",
        "title": "Invalid input",
        "status": 422,
        "detail": "updater.params.alpha: must be >= 0 (and 1 more)",
        "field": "updater.params.alpha",
        "errors": [
            {"field": "updater.params.alpha", "reason": "must be >= 0"},
            {"field": "training.lr", "message": "must be > 0"},
        ],
    }

    # when
    problem = Problem.from_response(response(422, body, "application/problem+json"))

    # then
    assert (problem.status, problem.title) == (422, "Invalid input")
    assert problem.errors == (
        ProblemField("updater.params.alpha", "must be >= 0"),
        ProblemField("training.lr", "must be > 0"),
    )


def test_problem_from_fastapis_default_validation_body() -> None:
    # given
    body = {"detail": [{"loc": ["body", "training", "lr"], "msg": "too big", "type": "x"}]}

    # when
    problem = Problem.from_response(response(422, body))

    # then
    assert problem.title == "Unprocessable Entity"
    assert problem.detail is None
    assert problem.errors == (ProblemField("training.lr", "too big"),)


def test_problem_with_a_field_but_no_errors_list() -> None:
    # when
    problem = Problem.from_response(
        response(404, {"title": "Not found", "status": 404, "detail": "no job", "field": "job_id"})
    )

    # then
    assert problem.errors == (ProblemField("job_id", "no job"),)


def test_problem_from_a_proxy_that_is_not_relearn() -> None:
    # when
    problem = Problem.from_response(response(502, "<html>Bad gateway</html>", "text/html"))

    # then
    assert (problem.status, problem.title) == (502, "Bad Gateway")
    assert problem.detail == "<html>Bad gateway</html>"
    assert problem.errors == ()


def test_etag_digest_strips_quotes_and_weakness() -> None:
    assert etag_digest('"abc"') == "abc"
    assert etag_digest('W/"abc"') == "abc"
    assert etag_digest(None) is None


def test_nested_metrics_are_flattened_with_dotted_keys() -> None:
    # when
    rows = flat_metrics(
        {"accuracy": [0.5, 0.25], "train": {"steps": 14, "loss_curve": list(range(10))}}
    )

    # then
    assert rows == [
        ("accuracy", "[0.5000, 0.2500]"),
        ("train.steps", "14"),
        ("train.loss_curve", "[0, …, 9] (10 values)"),
    ]


def test_ids_are_sent_as_one_path_segment() -> None:
    assert segment("abc") == "abc"
    assert segment("a/../b?x=1") == "a%2F..%2Fb%3Fx%3D1"
    assert segment(3) == "3"
