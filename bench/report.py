"""The continual benchmark's report: runs grouped into summaries, printed, and rendered
into the generated block of BENCHMARKS.md beside Avalanche's runs of the same grid.

Works from the ``--json`` dumps' dicts alone (ours and ``avalanche_reference.py``'s), so a
report can be re-rendered without training; the text around the generated block is kept.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.references import AVALANCHE_COUNTERPART, MUST_REACH, base_label

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_PATH = REPO_ROOT / "BENCHMARKS.md"
SECTION_TITLE = "## Continual learning (four streams, against Avalanche 0.6.0)"
BEGIN_MARK = "<!-- bench/continual.py:begin (generated; edit the script, not this block) -->"
END_MARK = "<!-- bench/continual.py:end -->"

Key = tuple[str, str, str, int]  # stream, label, memory, epochs


@dataclass
class Summary:
    """One table line: a setting's runs over seeds, as mean ± std and a mean matrix."""

    stream: str
    label: str
    memory: str
    epochs: int
    variant: str
    seeds: list[int]
    acc: tuple[float, float]
    forgetting: tuple[float, float] | None
    bwt: tuple[float, float] | None
    mean_matrix: list[list[float]]
    seconds_per_run: float

    @property
    def key(self) -> Key:
        return (self.stream, self.label, self.memory, self.epochs)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(runs: list[dict[str, Any]]) -> list[Summary]:
    """Group runs by (stream, label, memory, epochs), in the order they first appear."""
    groups: dict[Key, list[dict[str, Any]]] = {}
    for run in runs:
        key = (run.get("stream", "split_mnist1d"), run["label"], run["memory"], run["epochs"])
        groups.setdefault(key, []).append(run)
    summaries = []
    for (stream, label, memory, epochs), group in groups.items():
        matrices = [r["accuracy_matrix"] for r in group]
        mean_matrix = [
            [float(np.mean([m[i][j] for m in matrices])) for j in range(len(row))]
            for i, row in enumerate(matrices[0])
        ]
        has_transfer = group[0]["bwt"] is not None
        summaries.append(
            Summary(
                stream=stream,
                label=label,
                memory=memory,
                epochs=epochs,
                variant=group[0].get("variant", ""),
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


def counterpart(summary: Summary, avalanche: dict[Key, Summary]) -> Summary | None:
    """Avalanche's line for ``summary`` (a variant is compared with its method's)."""
    return avalanche.get(
        (summary.stream, base_label(summary.label), summary.memory, summary.epochs)
    )


def seed_std(ours: Summary, theirs: Summary) -> float:
    """The seeds' standard deviation of the two lines, pooled: sqrt((s₁² + s₂²) / 2)."""
    return float(np.sqrt((ours.acc[1] ** 2 + theirs.acc[1] ** 2) / 2))


def clears(ours: Summary, theirs: Summary) -> bool:
    """Issue 9's bar: our mean at least Avalanche's less one (pooled) std of the seeds."""
    return ours.acc[0] >= theirs.acc[0] - seed_std(ours, theirs)


def print_summaries(summaries: list[Summary], avalanche: list[Summary] | None = None) -> None:
    """The console table, with Avalanche's mean beside each line where there is one."""
    theirs = {s.key: s for s in avalanche or []}
    for s in summaries:
        reference = counterpart(s, theirs)
        beside = f"  Avalanche {fmt(reference.acc)}" if reference else ""
        print(
            f"{s.stream:17s} {s.label:34s} mem {s.memory:12s} ep {s.epochs}  ACC {fmt(s.acc)}  "
            f"forgetting {fmt(s.forgetting)}{beside}  ({len(s.seeds)} seeds, "
            f"{s.seconds_per_run:.1f} s/run)"
        )


def stream_table(stream: str, summaries: list[Summary], avalanche: dict[Key, Summary]) -> list[str]:
    """The table of one stream: defaults first, then the variants, 5 epochs before 1."""
    lines = [
        "| Method | Memory | Epochs | ACC | Forgetting | Avalanche ACC | ours − Avalanche "
        "| ≥ Avalanche − 1 std |",
        "|---|---|---:|---|---|---|---:|:-:|",
    ]
    rows = [s for s in summaries if s.stream == stream]
    rows.sort(key=lambda s: (-s.epochs, s.variant != "", 0))
    for s in rows:
        reference = counterpart(s, avalanche)
        label = s.label if not s.variant else f"*{s.label}*"
        if reference is None:
            cells = "| | |"
        else:
            delta = s.acc[0] - reference.acc[0]
            cells = (
                f"{fmt(reference.acc)} | {delta:+.3f} | {'✓' if clears(s, reference) else '✗'} |"
            )
        lines.append(
            f"| {label} | {s.memory} | {s.epochs} | {fmt(s.acc)} | {fmt(s.forgetting)} | {cells}"
        )
    return lines


def bar_lines(summaries: list[Summary], avalanche: dict[Key, Summary]) -> list[str]:
    """Issue 9's two bars: a line for the first, a table for the second."""
    defaults = [s for s in summaries if not s.variant]
    failing = [
        f"{s.stream} {s.label} ep {s.epochs}"
        for s in defaults
        if (r := counterpart(s, avalanche)) is not None and not clears(s, r)
    ]
    lines = [
        "- Every default at least its Avalanche counterpart less one std of the seeds "
        "(pooled over both): "
        + ("yes, on every stream and epoch count." if not failing else "no: " + "; ".join(failing)),
        "- DER++ and ER-ACE against Avalanche's DER (++ configuration) and Replay (✗: below "
        "one of them):",
        "",
    ]
    ours_labels = list(MUST_REACH)
    targets = sorted(
        {t for ts in MUST_REACH.values() for t in ts}, key=list(AVALANCHE_COUNTERPART).index
    )
    lines.append(
        "| Stream | Epochs | "
        + " | ".join(f"{label}" for label in ours_labels)
        + " | "
        + " | ".join(f"Avalanche {label}" for label in targets)
        + " |"
    )
    lines.append("|---|---:|" + "---:|" * (len(ours_labels) + len(targets)))
    index = {s.key: s for s in defaults}
    memories = {s.memory for s in defaults if s.label in ours_labels}
    for stream in dict.fromkeys(s.stream for s in defaults):
        for epochs in sorted({s.epochs for s in defaults if s.stream == stream}, reverse=True):
            for memory in sorted(memories):
                theirs = [avalanche.get((stream, t, memory, epochs)) for t in targets]
                if any(t is None for t in theirs):
                    continue
                best = max(t.acc[0] for t in theirs if t is not None)
                cells = []
                for label in ours_labels:
                    ours = index.get((stream, label, memory, epochs))
                    cells.append(
                        ""
                        if ours is None
                        else f"{ours.acc[0]:.3f}{'' if ours.acc[0] >= best else ' ✗'}"
                    )
                lines.append(
                    f"| {stream} | {epochs} | "
                    + " | ".join(cells)
                    + " | "
                    + " | ".join(f"{t.acc[0]:.3f}" for t in theirs if t is not None)
                    + " |"
                )
    return lines


def markdown_block(report: dict[str, Any], avalanche_report: dict[str, Any] | None) -> str:
    """The generated block of BENCHMARKS.md: provenance, a table per stream, the bars."""
    summaries = summarize(report["runs"])
    theirs = {s.key: s for s in summarize(avalanche_report["runs"])} if avalanche_report else {}
    machine = report["machine"]
    config = report["config"]
    lines = [
        BEGIN_MARK,
        "",
        f"- Command: `{report['command']}`",
        f"- Date: {report['date']}; wall time {report['wall_seconds'] / 60:.1f} min",
        f"- Machine: {machine['cpu']} ({machine['nproc']} cores, torch threads "
        f"{machine['torch_threads']}), device `{machine['device']}`, torch "
        f"{machine['torch']}, Python {machine['python']}",
        f"- Seeds: {config['seeds']}; epochs per experience: {config['epochs']}; memory: "
        f"{config['memory']}; mixed precision: {config['mixed_precision']}",
    ]
    if avalanche_report:
        lines += [
            f"- Avalanche: `{avalanche_report['command']}`, {avalanche_report['date']}, wall "
            f"time {avalanche_report['wall_seconds'] / 60:.1f} min, "
            f"{avalanche_report['machine'].get('versions', '')}",
        ]
    if report.get("note"):
        lines.append(f"- {report['note']}")
    lines += ["", *bar_lines(summaries, theirs), ""]
    streams = list(dict.fromkeys(s.stream for s in summaries))
    for stream in streams:
        lines += [f"### {stream}", "", *stream_table(stream, summaries, theirs), ""]
    lines += [
        "Mean ± sample std over seeds. ACC: average accuracy after the last experience; "
        "forgetting as defined in `app/continual_metrics.py`. *Italic* lines are the "
        "alternatives the defaults were chosen against, compared with the same Avalanche line. "
        "The last column: ours ≥ Avalanche − √((s_ours² + s_Avalanche²)/2).",
        "",
        "<details><summary>Mean accuracy matrices of the defaults "
        "(row i = after experience i)</summary>",
        "",
    ]
    for s in sorted(summaries, key=lambda s: (streams.index(s.stream), -s.epochs)):
        if s.variant:
            continue
        lines += [f"**{s.stream}: {s.label}, memory {s.memory}, {s.epochs} epoch(s)**", "", "```"]
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
