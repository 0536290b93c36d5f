"""The benchmark's streams (glyphs, permuted, small), a smoke run of the grid on a tiny
stream with the real updaters, and the report's comparison with an Avalanche dump: seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import continual
from bench.glyphs import glyphs
from bench.report import markdown_block, summarize
from bench.split_mnist1d import ExperienceSplit, generate_mnist1d, split_by_classes
from bench.streams import NUM_EXPERIENCES, Stream, mlp, permuted_mnist1d_stream


def test_glyphs_are_deterministic_images_in_unit_range_with_every_class() -> None:
    # when
    first = glyphs(per_class_train=20, per_class_eval=5, size=12, data_seed=0)
    second = glyphs(per_class_train=20, per_class_eval=5, size=12, data_seed=0)
    other = glyphs(per_class_train=20, per_class_eval=5, size=12, data_seed=1)

    # then
    assert first["x"].shape == (200, 1, 12, 12) and first["x"].dtype == np.float32
    assert first["x"].min() >= 0 and first["x"].max() <= 1
    assert sorted(set(first["y"].tolist())) == list(range(10))
    np.testing.assert_array_equal(first["x"], second["x"])
    assert not np.array_equal(first["x"], other["x"])


def test_permuted_stream_is_domain_incremental_with_disjoint_training_samples() -> None:
    # when
    stream = permuted_mnist1d_stream(per_experience=100, num_samples=1_000)

    # then: every experience holds all classes, its inputs permuted its own way
    assert stream.kind == "domain-incremental" and len(stream.experiences) == NUM_EXPERIENCES
    first, second = stream.experiences[:2]
    assert set(first.y_train.tolist()) == set(range(10)) == set(second.y_eval.tolist())
    np.testing.assert_array_equal(first.y_eval, second.y_eval)
    assert not np.array_equal(first.x_eval, second.x_eval)
    np.testing.assert_allclose(np.sort(first.x_eval, 1), np.sort(second.x_eval, 1))


@pytest.fixture
def tiny_stream(monkeypatch: pytest.MonkeyPatch) -> str:
    """A two-experience MLP stream of 60 samples each, as the only stream."""

    def build() -> Stream:
        full = split_by_classes(generate_mnist1d(num_samples=1_000, data_seed=0))
        small = [
            ExperienceSplit(e.classes, e.x_train[:60], e.y_train[:60], e.x_eval, e.y_eval)
            for e in full[:2]
        ]
        return Stream("tiny", "class-incremental", small, mlp(40))

    monkeypatch.setattr(continual, "STREAMS", {"tiny": build})
    return "tiny"


def avalanche_dump(ours: dict[str, Any], shift: float) -> dict[str, Any]:
    """A fake Avalanche dump: our runs of the default lines with ACC shifted."""
    runs = [
        {**run, "acc": run["acc"] + shift, "method": "Avalanche"}
        for run in ours["runs"]
        if not run["variant"]
    ]
    machine = {**ours["machine"], "versions": "avalanche-lib 0.6.0"}
    return {
        **ours,
        "command": "python bench/avalanche_reference.py",
        "machine": machine,
        "runs": runs,
    }


def test_a_smoke_run_trains_every_quick_method_and_reports_against_avalanche(
    tiny_stream: str, tmp_path: Path
) -> None:
    # when: the quick grid with variants, dumped, then rendered against two fake references
    dump = tmp_path / "ours.json"
    report = continual.main(
        ["--quick", "--streams", tiny_stream, "--variants", "--json", str(dump)]
    )
    ahead = markdown_block(report, avalanche_dump(report, shift=-0.1))
    behind = markdown_block(report, avalanche_dump(report, shift=+0.5))

    # then: every quick method and its variants ran; the bars read as they should
    labels = {s.label for s in summarize(report["runs"])}
    assert {"naive", "joint", "er", "der++", "er_ace"} <= labels
    assert "der++ [reservoir, training logits]" in labels
    assert json.loads(dump.read_text())["runs"] == report["runs"]
    assert "(pooled over both): yes" in ahead
    assert "(pooled over both): no" in behind and "✗" in behind
    assert "| Avalanche er | Avalanche der++ |" in ahead
    assert "### tiny" in ahead


def test_quick_mode_is_refused_for_benchmarks_md() -> None:
    # when / then
    with pytest.raises(SystemExit):
        continual.parse_args(["--quick", "--write-benchmarks"])


def test_the_quick_stream_is_cut_to_two_experiences(tiny_stream: str) -> None:
    # given
    args = continual.parse_args(["--quick", "--streams", tiny_stream, "--methods", "naive"])

    # when
    report = continual.run_benchmark(args)

    # then
    assert [len(run["accuracy_matrix"]) for run in report["runs"]] == [2]
