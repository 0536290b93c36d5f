"""Rich renderings of the API's resources (models, jobs, versions, metrics) for people.

Each function takes the JSON the API sent and returns a renderable; nothing here talks to
the server. Fields a renderer does not know are ignored, missing ones show as ``-``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
STATUS_STYLES = {
    "queued": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def dash(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def status_text(status: str) -> Text:
    return Text(status, style=f"bold {STATUS_STYLES.get(status, 'white')}")


def when(value: str | None) -> str:
    """ISO timestamps from the API, shortened to the second."""
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def duration(start: str | None, end: str | None) -> str | None:
    if not start or not end:
        return None
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None
    return f"{seconds:.1f}s"


def number(value: object, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return dash(value)
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def architecture_summary(architecture: Mapping[str, Any] | None) -> str:
    """``mlp 784-256-256-10`` for an MLP, ``name {params}`` for anything else."""
    if not architecture:
        return "-"
    name = str(architecture.get("name", "?"))
    params = architecture.get("params") or {}
    if name == "mlp" and "input_dim" in params and "num_classes" in params:
        widths = [params["input_dim"], *params.get("hidden", []), params["num_classes"]]
        return f"mlp {'-'.join(str(w) for w in widths)}"
    return f"{name} {json.dumps(params, sort_keys=True)}" if params else name


def updater_summary(updater: Mapping[str, Any] | None) -> str:
    """``er memory_size=200`` (parameters at their default included, as the API sends)."""
    if not updater:
        return "-"
    params = updater.get("params") or {}
    pairs = " ".join(f"{key}={json.dumps(value)}" for key, value in sorted(params.items()))
    return f"{updater.get('name', '?')} {pairs}".strip()


def key_values(rows: Sequence[tuple[str, RenderableType | str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value if not isinstance(value, str) else Text(value))
    return table


def model_view(model: Mapping[str, Any]) -> Table:
    training = model.get("training") or {}
    return key_values(
        [
            ("id", dash(model.get("id"))),
            ("name", dash(model.get("name"))),
            ("latest version", dash(model.get("latest_version"))),
            ("architecture", architecture_summary(model.get("architecture"))),
            ("updater", updater_summary(model.get("updater"))),
            ("training", " ".join(f"{k}={json.dumps(v)}" for k, v in training.items()) or "-"),
            ("chunks", dash(model.get("chunk_count"))),
            ("promotion", settings_text(model.get("promotion"))),
            ("retention", settings_text(model.get("retention"))),
            ("storage", f"{dash(model.get('storage_bytes'))} bytes"),
            ("created", when(model.get("created_at"))),
        ]
    )


def settings_text(settings: object) -> str:
    """``key=value`` of the settings given (a gate, a retention), or ``-`` for none."""
    if not isinstance(settings, Mapping):
        return "-"
    return " ".join(f"{k}={v}" for k, v in settings.items() if v is not None) or "-"


def models_table(models: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Models", title_justify="left")
    for column in ("id", "name", "latest", "architecture", "updater", "chunks", "created"):
        table.add_column(column, overflow="fold", no_wrap=column == "id")
    for model in models:
        updater = model.get("updater") or {}
        table.add_row(
            dash(model.get("id")),
            escape(dash(model.get("name"))),
            dash(model.get("latest_version")),
            architecture_summary(model.get("architecture")),
            dash(updater.get("name")),
            dash(model.get("chunk_count")),
            when(model.get("created_at")),
        )
    return table


def compact(value: object) -> str:
    """A metric value, short: floats to 4 digits, long lists as their length and ends."""
    if isinstance(value, float):
        return number(value)
    if isinstance(value, list):
        if len(value) > 6:
            return f"[{compact(value[0])}, …, {compact(value[-1])}] ({len(value)} values)"
        return "[" + ", ".join(compact(item) for item in value) + "]"
    return dash(value)


def flat_metrics(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``{"train": {"steps": 14}}`` → ``[("train.steps", "14")]``."""
    rows: list[tuple[str, str]] = []
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            rows += flat_metrics(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", compact(value)))
    return rows


def metrics_grid(metrics: Mapping[str, Any] | None) -> RenderableType:
    if not metrics:
        return "-"
    return key_values(flat_metrics(metrics))


def job_view(job: Mapping[str, Any]) -> RenderableType:
    progress = job.get("progress")
    rows: list[tuple[str, RenderableType | str]] = [
        ("job", dash(job.get("id"))),
        ("status", status_text(str(job.get("status", "?")))),
        ("progress", f"{100 * progress:.0f}%" if isinstance(progress, int | float) else "-"),
        ("model", dash(job.get("model_id"))),
        (
            ("rollback to version", f"{dash(job.get('source_version'))} (#{dash(job.get('seq'))})")
            if job.get("kind") == "rollback"
            else ("chunk", f"{dash(job.get('chunk_id'))} (#{dash(job.get('seq'))})")
        ),
        ("updater", updater_summary(job.get("updater"))),
        ("base version", dash(job.get("base_version"))),
        ("result version", dash(job.get("result_version"))),
        ("created", when(job.get("created_at"))),
        ("started", when(job.get("started_at"))),
        ("finished", when(job.get("finished_at"))),
    ]
    took = duration(job.get("started_at"), job.get("finished_at"))
    if took:
        rows.append(("took", took))
    if job.get("attempts"):
        rows.append(("attempts", dash(job.get("attempts"))))
    rows.append(("metrics", metrics_grid(job.get("metrics"))))
    if isinstance(promotion := (job.get("metrics") or {}).get("promotion"), Mapping):
        rows.append(("promotion", promotion_text(promotion)))
    if job.get("error"):
        rows.append(("error", Text(str(job["error"]), style="red")))
    return key_values(rows)


def promotion_text(promotion: Mapping[str, Any]) -> Text:
    """The gate's decision: promoted or refused, then its reasons."""
    promoted = bool(promotion.get("promoted"))
    text = Text("promoted" if promoted else "refused", style="green" if promoted else "red")
    for reason in promotion.get("reasons") or []:
        text.append(f"\n{reason}")
    return text


def jobs_table(jobs: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Jobs", title_justify="left")
    for column in ("#", "job", "status", "progress", "version", "created", "error"):
        table.add_column(column, overflow="fold", no_wrap=column == "job")
    for job in jobs:
        progress = job.get("progress")
        table.add_row(
            dash(job.get("seq")),
            dash(job.get("id")),
            status_text(str(job.get("status", "?"))),
            f"{100 * progress:.0f}%" if isinstance(progress, int | float) else "-",
            dash(job.get("result_version")),
            when(job.get("created_at")),
            escape(dash(job.get("error"))),
        )
    return table


def versions_table(versions: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Versions", title_justify="left")
    columns = ("version", "parent", "aliases", "chunk", "created", "sha256", "bytes", "pt2")
    for column in (*columns, "accuracy"):
        table.add_column(column, overflow="fold")
    for version in versions:
        sha = version.get("artifact_sha256")
        table.add_row(
            dash(version.get("number")),
            dash(version.get("parent")),
            ", ".join(version.get("aliases") or []) or "-",
            dash(version.get("chunk_id")),
            when(version.get("created_at")),
            f"{sha[:12]}…" if isinstance(sha, str) else "-",
            dash(version.get("artifact_size")),
            "yes" if version.get("pt2_sha256") else "not yet",
            compact((version.get("metrics") or {}).get("accuracy")),
        )
    return table


def metrics_view(metrics: Mapping[str, Any]) -> RenderableType:
    """The accuracy matrix (row i: after the update on chunk i; column j: chunk j's eval
    split) and its ACC, BWT and forgetting."""
    chunk_ids: list[str] = list(metrics.get("chunk_ids") or [])
    matrix: list[list[float | None]] = list(metrics.get("accuracy_matrix") or [])
    if not matrix:
        return Text("No versions trained on chunks yet: push a chunk first.", style="yellow")
    columns = max(len(chunk_ids), max(len(row) for row in matrix))
    table = Table(title="Accuracy on each chunk's eval split", title_justify="left")
    table.add_column("after update on", no_wrap=True)
    for j in range(columns):
        table.add_column(f"chunk {j + 1}", justify="right")
    for i, row in enumerate(matrix):
        label = f"chunk {i + 1}" + (f" ({chunk_ids[i][:8]}…)" if i < len(chunk_ids) else "")
        cells = [number(value, 3) if value is not None else "n/a" for value in row]
        table.add_row(label, *cells, *([""] * (columns - len(cells))))
    summary = key_values(
        [
            ("ACC (average accuracy)", number(metrics.get("average_accuracy"))),
            ("BWT (backward transfer)", number(metrics.get("backward_transfer"))),
            ("forgetting", number(metrics.get("forgetting"))),
        ]
    )
    return Group(table, Text(""), summary)
