"""``bench/gpu_step.py`` at a tiny size on the CPU without Avalanche: the table it prints
has a row per model and method with every column filled (no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import gpu_step


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_the_table_has_a_full_row_per_method_with_ratios_and_op_counts(tmp_path: Path) -> None:
    # given
    methods = ["naive", "er", "derpp", "gem", "agem", "rwalk"]
    dump = tmp_path / "steps.json"

    # when
    tiny = ["--steps", "5", "--repeats", "1", "--memory", "50", "--prior-samples", "16"]
    device = ["--device", "cpu", "--no-avalanche", "--models", "mlp_784_256"]
    lines = gpu_step.main([*device, "--methods", *methods, *tiny, "--json", str(dump)])

    # then: header, separator, one row per method, as many cells as columns
    header, separator, *rows = lines
    assert cells(header) == list(gpu_step.COLUMNS)
    assert len(cells(separator)) == len(gpu_step.COLUMNS)
    assert [cells(row)[:2] for row in rows] == [
        ["mlp_784_256", label] for label in ["naive", "er", "der++", "gem", "agem", "rwalk"]
    ]
    for row in rows:
        values = dict(zip(gpu_step.COLUMNS, cells(row), strict=True))
        for column in ("plain new (ms)", "plain combined (ms)", "relearn (ms)", "relearn ÷ new"):
            assert float(values[column]) > 0
        assert values["Avalanche (ms)"] == "—"
        ours, theirs, plain = values["ops/step relearn / Avalanche / plain new"].split(" / ")
        assert int(ours) > 0 and theirs == "—" and int(plain) > 0
    report = json.loads(dump.read_text())
    assert report["avalanche"] is False and len(report["rows"]) == len(methods)


def test_the_combined_step_counts_every_memory_sample_each_method_sees() -> None:
    # then: new 32 (+ 32 per memory batch); A-GEM's and GEM's floors are separate passes
    assert gpu_step.floor_batches("naive", 500) == [(32, 1)]
    assert gpu_step.floor_batches("er", 500) == [(64, 1)]
    assert gpu_step.floor_batches("derpp", 500) == [(96, 1)]
    assert gpu_step.floor_batches("agem", 500) == [(32, 1), (64, 1)]
    assert gpu_step.floor_batches("gem", 500) == [(32, 1), (100, 4)]


def test_resnet18_on_images_runs_without_the_profiler() -> None:
    # when
    args = "--no-profile --models resnet18 --methods naive --steps 2 --repeats 1"
    lines = gpu_step.main(
        ["--device", "cpu", "--no-avalanche", *args.split(), "--prior-samples", "4"]
    )

    # then
    (row,) = lines[2:]
    values = dict(zip(gpu_step.COLUMNS, cells(row), strict=True))
    assert values["model"] == "resnet18" and float(values["relearn (ms)"]) > 0
    assert values["ops/step relearn / Avalanche / plain new"] == "— / — / —"
