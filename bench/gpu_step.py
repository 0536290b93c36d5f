"""Per-iteration cost of each updater beside the plain training step it contains, on the
CPU or a GPU, with Avalanche 0.6.0's strategies timed in the same process on the same data.

For each model and updater (at the continual benchmark's defaults, ``bench.methods``):
four prior experiences are learned first (memories and importances full, GEM with t = 4
past experiences), then the fifth is timed step by step (``bench.step_probe``) from that
same saved state in every repeat, interleaved with the plain steps and Avalanche's runs,
and the median taken. A plain step is zero_grad, forward, cross-entropy, backward, SGD
step on one batch. Each updater is compared with the plain step of the new batch and with
that of the *combined* batch (new + memory samples: ER, ER-ACE, DER and RWalk+replay 64,
DER++ 96, its two memory batches as in the paper) or, for the projection methods, their
floor: A-GEM plain(32) + plain(64), GEM plain(32) + t × plain(patterns per experience).
Ops and host syncs per step come from ``torch.profiler``: on the CPU leaf aten ops and
reads of a tensor's value, on CUDA kernel launches and synchronising calls + D2H copies.

    python bench/gpu_step.py --device cpu --no-avalanche             # project venv
    PYTHONPATH=. /tmp/avl-venv/bin/python bench/gpu_step.py --device cuda --json s.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import torch

if __package__ in (None, ""):  # run as `python bench/gpu_step.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.continual import machine_info
from bench.methods import AGEM_SAMPLE_SIZE, METHODS, settings_for
from bench.step_probe import StepCallback, StepClock, StepProfiler
from bench.step_subjects import PlainSteps, RelearnSteps, make_stream

MODELS: dict[str, dict[str, Any]] = {
    "mlp_784_256": {
        "name": "mlp",
        "params": {"input_dim": 784, "hidden": [256, 256], "num_classes": 10},
    },
    "mlp_784_1024": {
        "name": "mlp",
        "params": {"input_dim": 784, "hidden": [1024, 1024], "num_classes": 10},
    },
    "resnet18": {
        "name": "resnet18",
        "params": {"input_shape": [3, 32, 32], "num_classes": 10, "width": 20},
    },
}
DEFAULT_STEPS = {"mlp_784_256": 30, "mlp_784_1024": 20, "resnet18": 6}  # CPU
CUDA_STEPS = 50
STEP_METHODS = tuple(m for m in METHODS if m != "joint")
BATCH, PAST = 32, 4  # new samples per step; experiences before the timed one
LR = 0.05
COLUMNS = (
    "model",
    "method",
    "plain new (ms)",
    "plain combined (ms)",
    "relearn (ms)",
    "relearn ÷ new",
    "relearn ÷ combined",
    "Avalanche (ms)",
    "Avalanche ÷ combined",
    "ops/step relearn / Avalanche / plain new",
    "syncs/step relearn / Avalanche",
)


class Subject(Protocol):
    def prepare(self) -> None: ...
    def run(self, callback: StepCallback) -> None: ...


def floor_batches(method: str, memory: int) -> list[tuple[int, int]]:
    """(batch size, how many plain steps of it) that make a method's combined step."""
    if method in ("naive", "rwalk"):
        return [(BATCH, 1)]
    if method == "derpp":
        return [(3 * BATCH, 1)]
    if method == "agem":
        return [(BATCH, 1), (AGEM_SAMPLE_SIZE, 1)]
    if method == "gem":
        return [(BATCH, 1), (memory // (PAST + 1), PAST)]
    return [(2 * BATCH, 1)]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--methods", nargs="+", choices=STEP_METHODS, default=STEP_METHODS)
    parser.add_argument(
        "--steps", type=int, help=f"timed steps (CPU {DEFAULT_STEPS}, CUDA {CUDA_STEPS})"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory", type=int, default=500, help="total; GEM/A-GEM: /5 each")
    parser.add_argument("--prior-samples", type=int, default=200, help="per prior experience")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-avalanche", action="store_true", help="relearn and plain only")
    parser.add_argument("--no-profile", action="store_true", help="skip the op counts")
    parser.add_argument("--json", type=Path, help="dump rows and provenance here")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 5 and not args.no_profile:
        parser.error("--steps must be at least 5 to profile 3 steps after 2 of warm-up")
    return args


@dataclass
class Measured:
    seconds: float
    counts: dict[str, float] | None


def measure(
    subjects: dict[tuple[str, Any], Subject],
    device: torch.device,
    steps: int,
    repeats: int,
    profile: bool,
) -> dict[tuple[str, Any], Measured]:
    """Median seconds per step of interleaved repeats, and one profiled run each."""
    started = time.perf_counter()

    def done(what: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {what}", file=sys.stderr, flush=True)

    for subject in subjects.values():
        subject.prepare()
    done(f"{len(subjects)} subjects prepared")
    counts: dict[tuple[str, Any], dict[str, float] | None] = dict.fromkeys(subjects)
    if profile:
        for key, subject in subjects.items():
            with StepProfiler(device) as profiler:
                subject.run(profiler)
            counts[key] = profiler.per_step()
        done("profiled")
    times: dict[tuple[str, Any], list[float]] = {key: [] for key in subjects}
    for _ in range(repeats):
        for key, subject in subjects.items():
            clock = StepClock(device, steps)
            subject.run(clock)
            times[key].append(clock.per_step())
        done(f"repeat {len(times[key])} of {repeats}")
    return {key: Measured(statistics.median(times[key]), counts[key]) for key in subjects}


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.2f}"


def ratio(a: float | None, b: float) -> str:
    return "—" if a is None else f"{a / b:.2f}"


def count(measured: Measured | None, key: str) -> str:
    if measured is None or measured.counts is None:
        return "—"
    return f"{measured.counts[key]:.0f}"


def model_rows(name: str, args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """Measure every method on one model; one row (a dict of COLUMNS and raw figures) each."""
    architecture = MODELS[name]
    steps = args.steps or (CUDA_STEPS if device.type == "cuda" else DEFAULT_STEPS[name])
    stream = make_stream(architecture, args.prior_samples, steps * BATCH, PAST + 1)
    settings = {m: settings_for([m], [args.memory])[0] for m in args.methods}
    subjects: dict[tuple[str, Any], Subject] = {}
    sizes = sorted({b for m in args.methods for b, _ in floor_batches(m, args.memory)})
    for size in sizes:
        subjects[("plain", size)] = PlainSteps(architecture, size, steps, LR, device)
    for method, setting in settings.items():
        subjects[("relearn", method)] = RelearnSteps(setting, architecture, stream, LR, device)
        if not args.no_avalanche:
            from bench.avalanche_steps import AvalancheSteps

            subjects[("avalanche", method)] = AvalancheSteps(
                setting, architecture, stream, LR, args.memory, device
            )
    found = measure(subjects, device, steps, args.repeats, not args.no_profile)
    rows = []
    new = found[("plain", BATCH)]
    for method, setting in settings.items():
        combined = sum(
            found[("plain", b)].seconds * k for b, k in floor_batches(method, args.memory)
        )
        ours = found[("relearn", method)]
        theirs = found.get(("avalanche", method))
        cells = [
            name,
            setting.label,
            ms(new.seconds),
            ms(combined),
            ms(ours.seconds),
            ratio(ours.seconds, new.seconds),
            ratio(ours.seconds, combined),
            ms(theirs.seconds if theirs else None),
            ratio(theirs.seconds if theirs else None, combined),
            f"{count(ours, 'ops')} / {count(theirs, 'ops')} / {count(new, 'ops')}",
            f"{count(ours, 'syncs')} / {count(theirs, 'syncs')}",
        ]
        rows.append(
            {
                "cells": dict(zip(COLUMNS, cells, strict=True)),
                "plain_new_s": new.seconds,
                "plain_combined_s": combined,
                "relearn_s": ours.seconds,
                "avalanche_s": theirs.seconds if theirs else None,
                "counts": {"relearn": ours.counts, "avalanche": theirs.counts if theirs else None},
            }
        )
        print(" | ".join(cells), file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row["cells"][c] for c in COLUMNS) + " |" for row in rows]
    return lines


def code_state() -> str:
    """The commit measured and the updater files changed on top of it (git, read-only)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        found = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return found.stdout.rstrip("\n")

    status = git("status", "--porcelain", "worker/updaters", "worker/architectures")
    changed = [line[3:] for line in status.splitlines()]
    return f"{git('rev-parse', '--short', 'HEAD') or 'unknown'}" + (
        f" + uncommitted {', '.join(changed)}" if changed else ""
    )


def main(argv: Sequence[str] | None = None) -> list[str]:
    """Measure, print the markdown table and return its lines."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    device = torch.device(args.device)
    started = datetime.now(UTC)
    print(f"code: {code_state()}; device {device}", file=sys.stderr)
    rows = [row for name in args.models for row in model_rows(name, args, device)]
    lines = markdown(rows)
    print("\n".join(lines))
    if args.json:
        report = {
            "command": " ".join(["python", "bench/gpu_step.py", *(argv or sys.argv[1:])]),
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_info(device),
            "code": code_state(),
            "avalanche": not args.no_avalanche,
            "rows": rows,
        }
        args.json.write_text(json.dumps(report, indent=1))
    return lines


if __name__ == "__main__":
    main()
