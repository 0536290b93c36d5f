"""The continual benchmark's report: runs grouped into summaries, printed, and rendered
into the generated block of BENCHMARKS.md.

Works from the ``--json`` dump's dicts alone, so a report can be re-rendered without
training (``--from-json``); the text around the generated block is never touched.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.references import reference_cells

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_PATH = REPO_ROOT / "BENCHMARKS.md"
SECTION_TITLE = "## Continual learning (Split-MNIST-1D)"
BEGIN_MARK = "<!-- bench/continual.py:begin (generated; edit the script, not this block) -->"
END_MARK = "<!-- bench/continual.py:end -->"


@dataclass
class Summary:
    """One table line: a setting's runs over seeds, as mean ± std and a mean matrix."""

    label: str
    memory: str
    epochs: int
    seeds: list[int]
    acc: tuple[float, float]
    forgetting: tuple[float, float] | None
    bwt: tuple[float, float] | None
    mean_matrix: list[list[float]]
    seconds_per_run: float


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(runs: list[dict[str, Any]]) -> list[Summary]:
    """Group runs by (label, memory, epochs), in the order they first appear."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["label"], run["memory"], run["epochs"]), []).append(run)
    summaries = []
    for (label, memory, epochs), group in groups.items():
        matrices = [r["accuracy_matrix"] for r in group]
        mean_matrix = [
            [float(np.mean([m[i][j] for m in matrices])) for j in range(len(row))]
            for i, row in enumerate(matrices[0])
        ]
        has_transfer = group[0]["bwt"] is not None
        summaries.append(
            Summary(
                label=label,
                memory=memory,
                epochs=epochs,
                seeds=[r["seed"] for r in group],
                acc=mean_std([r["acc"] for r in group]),
                forgetting=mean_std([r["forgetting"] for r in group]) if has_transfer else None,
                bwt=mean_std([r["bwt"] for r in group]) if has_transfer else None,
                mean_matrix=mean_matrix,
                seconds_per_run=statistics.fmean(r["seconds"] for r in group),
            )
        )
    return summaries


def fmt(value: tuple[float, float] | None) -> str:
    """A mean ± std cell, or a dash where the summary is undefined."""
    return "—" if value is None else f"{value[0]:.3f} ± {value[1]:.3f}"


def format_matrix(matrix: list[list[float]]) -> list[str]:
    """One line per row of an accuracy matrix."""
    return [f"after exp {i}: " + "  ".join(f"{v:.3f}" for v in row) for i, row in enumerate(matrix)]


def print_summaries(summaries: list[Summary]) -> None:
    """The console table, each line followed by its mean accuracy matrix."""
    for s in summaries:
        print(
            f"{s.label:13s} mem {s.memory:14s} ep {s.epochs}  ACC {fmt(s.acc)}  "
            f"forgetting {fmt(s.forgetting)}  BWT {fmt(s.bwt)}  "
            f"({len(s.seeds)} seeds, {s.seconds_per_run:.1f} s/run)"
        )
        for line in format_matrix(s.mean_matrix):
            print(f"    {line}")


def markdown_block(report: dict[str, Any]) -> str:
    """The generated block of BENCHMARKS.md: provenance, the table, the matrices."""
    summaries = summarize(report["runs"])
    machine = report["machine"]
    lines = [
        BEGIN_MARK,
        "",
        f"- Command: `{report['command']}`",
        f"- Date: {report['date']}; wall time {report['wall_seconds'] / 60:.1f} min",
        f"- Machine: {machine['cpu']} ({machine['nproc']} cores, torch threads "
        f"{machine['torch_threads']}), device `{machine['device']}`, torch "
        f"{machine['torch']}, Python {machine['python']}",
        f"- Seeds: {report['config']['seeds']}; epochs per experience: "
        f"{report['config']['epochs']}; mixed precision: {report['config']['mixed_precision']}",
    ]
    if report.get("missing"):
        lines.append(
            "- Not registered in `worker/updaters/registry.py` at run time (not run): "
            + ", ".join(f"`{m}`" for m in report["missing"])
        )
    if report.get("note"):
        lines.append(f"- {report['note']}")
    lines += [
        "",
        "Mean ± sample std over seeds. ACC: average accuracy after the last experience; "
        "forgetting and BWT as defined in `app/continual_metrics.py`. Avalanche 0.6.0: same "
        "stream and setup, 5 epochs, seed 0 (one run, so differences under ~0.03 are noise).",
        "",
        "| Method | Memory | Epochs | ACC | Forgetting | BWT | Avalanche ACC "
        "| Where ours is lower: likely reason |",
        "|---|---|---:|---|---|---|---:|---|",
    ]
    for s in sorted(summaries, key=lambda s: -s.epochs):
        reference, reason = reference_cells(s.label, s.memory, s.epochs, s.acc[0])
        lines.append(
            f"| {s.label} | {s.memory} | {s.epochs} | {fmt(s.acc)} | {fmt(s.forgetting)} "
            f"| {fmt(s.bwt)} | {reference} | {reason} |"
        )
    lines += [
        "",
        "<details><summary>Mean accuracy matrices (row i = after experience i)</summary>",
        "",
    ]
    for s in sorted(summaries, key=lambda s: -s.epochs):
        lines += [f"**{s.label}, memory {s.memory}, {s.epochs} epoch(s)**", "", "```"]
        lines += format_matrix(s.mean_matrix)
        lines += ["```", ""]
    lines += ["</details>", "", END_MARK]
    return "\n".join(lines)


def write_benchmarks(block: str, path: Path = BENCHMARKS_PATH) -> None:
    """Replace the generated block of this section, leaving the rest of the file alone."""
    text = path.read_text() if path.exists() else "# relearn benchmarks\n"
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        tail = rest.split(END_MARK, 1)[1]
        text = head + block + tail
    elif SECTION_TITLE in text:
        head, rest = text.split(SECTION_TITLE, 1)
        text = f"{head}{SECTION_TITLE}\n\n{block}\n{rest}"
    else:
        text = f"{text.rstrip()}\n\n{SECTION_TITLE}\n\n{block}\n"
    path.write_text(text)
