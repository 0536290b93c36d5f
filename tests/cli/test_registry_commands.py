"""Names wherever the CLI takes a model, and ``relearn alias``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.runner import Relearn
from tests.cli.test_client_commands import create_model, push_chunk


def test_a_model_name_works_where_an_id_does(relearn: Relearn, tmp_path: Path) -> None:
    # given: a model known by its name
    model = create_model(relearn, "named-for-cli")
    accepted = push_chunk(relearn, "named-for-cli", tmp_path)

    # when
    shown = json.loads(relearn.ok("models", "show", "named-for-cli", "--json").stdout)
    jobs = json.loads(relearn.ok("jobs", "--model", "named-for-cli", "--json").stdout)

    # then: the same model as by id
    assert shown["id"] == model["id"]
    assert accepted["job_id"] in [j["id"] for j in jobs["items"]]


def test_an_unknown_name_fails_with_a_message(relearn: Relearn) -> None:
    # when
    result = relearn("jobs", "--model", "nobody-has-this-name")

    # then
    assert result.exit_code == 1
    assert "no model named 'nobody-has-this-name'" in result.stderr


def test_alias_ls_and_a_refused_set(relearn: Relearn) -> None:
    # given
    create_model(relearn, "aliased-for-cli")

    # when
    listed = json.loads(relearn.ok("alias", "ls", "--model", "aliased-for-cli", "--json").stdout)
    refused = relearn("alias", "set", "--model", "aliased-for-cli", "latest", "0")

    # then
    assert listed == {"items": [], "next_cursor": None}
    assert refused.exit_code == 1
    assert "reserved" in refused.stderr
