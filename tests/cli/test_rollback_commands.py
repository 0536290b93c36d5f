"""``relearn rollback MODEL --to N`` and the gate and retention options of
``relearn models create``."""

from __future__ import annotations

import json

from tests.cli.runner import Relearn
from tests.cli.test_client_commands import create_model


def test_models_create_sets_the_promotion_gate_and_retention(relearn: Relearn) -> None:
    # when
    model = create_model(
        relearn,
        "gated-for-cli",
        "--promotion", "alias=production", "--promotion", "max_accuracy_drop=0.1",
        "--retention", "keep_versions=3",
    )  # fmt: skip
    shown = json.loads(relearn.ok("models", "show", "gated-for-cli", "--json").stdout)

    # then
    assert model["promotion"] == {
        "alias": "production",
        "max_accuracy_drop": 0.1,
        "min_average_accuracy": None,
        "max_forgetting": None,
    }
    assert shown["retention"] == {"keep_versions": 3, "keep_chunks": None}


def test_a_bad_gate_bound_is_refused_naming_it(relearn: Relearn) -> None:
    # when
    result = relearn(
        "models", "create", "--name", "badly-gated", "--input-dim", "4", "--num-classes", "3",
        "--promotion", "alias=production", "--promotion", "max_forgetting=2",
    )  # fmt: skip
    # then
    assert result.exit_code == 1
    assert "promotion.max_forgetting" in result.stderr


def test_rollback_by_name_queues_a_rollback_job(relearn: Relearn) -> None:
    # given
    create_model(relearn, "rolled-for-cli")
    # when
    job = json.loads(relearn.ok("rollback", "rolled-for-cli", "--to", "0", "--json").stdout)
    missing = relearn("rollback", "rolled-for-cli", "--to", "9")
    shown = relearn.ok("status", job["id"]).stdout
    # then
    assert (job["kind"], job["source_version"], job["status"]) == ("rollback", 0, "queued")
    assert "rollback to version" in shown and "0 (#1)" in shown
    assert missing.exit_code == 1
    assert "no version 9" in missing.stderr


def test_models_update_sets_and_removes_the_gate(relearn: Relearn) -> None:
    # given
    create_model(relearn, "updated-for-cli")
    # when
    gated = json.loads(
        relearn.ok(
            "models", "update", "updated-for-cli", "--promotion", "alias=production",
            "--retention", "keep_chunks=2", "--json",
        ).stdout
    )  # fmt: skip
    shown = relearn.ok("models", "show", "updated-for-cli").stdout
    ungated = json.loads(
        relearn.ok("models", "update", "updated-for-cli", "--no-promotion", "--json").stdout
    )
    nothing = relearn("models", "update", "updated-for-cli")
    # then
    assert gated["promotion"]["alias"] == "production"
    assert gated["retention"]["keep_chunks"] == 2
    assert "alias=production" in shown and "keep_chunks=2" in shown
    assert ungated["promotion"] is None and ungated["retention"]["keep_chunks"] == 2
    assert nothing.exit_code == 2
