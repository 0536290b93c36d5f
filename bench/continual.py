"""The continual benchmark: how much each updater forgets on each stream, against naive,
joint and Avalanche 0.6.0 on the same data and protocol.

The entry point: runs every setting (``bench.methods``) on every stream (``bench.streams``)
over seeds and epoch counts with the real updaters (``bench.runner``), then prints and
renders the report (``bench.report``), beside the Avalanche runs that
``bench/avalanche_reference.py`` dumped. ACC, BWT and forgetting are the service's own
(``app.continual_metrics``), so the benchmark and the API report the same quantities.

    python bench/continual.py --quick                                  # smoke run
    python bench/continual.py --variants --json ours.json              # the grid
    python bench/continual.py --from-json ours.json --avalanche avalanche.json \\
        --write-benchmarks                                             # report only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):  # run as `python bench/continual.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.methods import METHOD_UPDATER, METHODS, QUICK_METHODS, settings_for
from bench.report import (
    BENCHMARKS_PATH,
    SECTION_TITLE,
    markdown_block,
    print_summaries,
    summarize,
    write_benchmarks,
)
from bench.runner import BATCH_SIZE, run_one, to_device
from bench.streams import DEFAULT_STREAMS, STREAMS
from worker.updaters.registry import UPDATERS

QUICK_STREAM = "split_mnist1d_300"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; ``--quick`` narrows the grid to a smoke run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--streams",
        nargs="+",
        choices=list(STREAMS),
        help="default: all but split_glyphs32 (--quick: one)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--memory", type=int, nargs="+", default=[500])
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=None,
        help="default: every method whose updater is registered",
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="also the alternatives each default was chosen against (bench.methods.VARIANTS)",
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: for these small models, batch 32, more threads only add "
        "OpenMP synchronisation, which costs 10x on a shared 2-core machine)",
    )
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help="bf16 autocast on CUDA (off: fp32, as the references)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_STREAM}'s (or --streams') first two experiences, seed 0, "
        "1 epoch, memory "
        f"100, {'/'.join(QUICK_METHODS)}",
    )
    parser.add_argument(
        "--write-benchmarks",
        action="store_true",
        help=f"update the section '{SECTION_TITLE[3:]}' of BENCHMARKS.md",
    )
    parser.add_argument("--json", type=Path, help="dump the raw results here")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="report from previous --json dumps (merged) instead of training",
    )
    parser.add_argument(
        "--avalanche", type=Path, nargs="*", default=[], help="avalanche_reference.py dumps"
    )
    parser.add_argument("--note", default="", help="a line added to the BENCHMARKS.md block")
    args = parser.parse_args(argv)
    if args.quick and args.write_benchmarks:
        parser.error("--quick is a smoke run; its figures do not belong in BENCHMARKS.md")
    if args.quick:
        args.streams = args.streams or [QUICK_STREAM]
        args.seeds, args.epochs, args.memory = [0], [1], [100]
        args.methods = args.methods or list(QUICK_METHODS)
    args.streams = args.streams or list(DEFAULT_STREAMS)
    return args


def machine_info(device: torch.device) -> dict[str, Any]:
    """CPU, cores, threads, device and versions, for the report's provenance line."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "nproc": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Train the whole grid and return the report (the ``--json`` dump's content)."""
    requested = list(args.methods or METHODS)
    missing = [m for m in requested if METHOD_UPDATER[m] not in UPDATERS]
    if args.methods and missing:
        sys.exit(f"not registered in worker/updaters/registry.py: {', '.join(missing)}")
    methods = [m for m in requested if m not in missing]
    device = torch.device(args.device)
    started = time.perf_counter()
    settings = settings_for(methods, args.memory, args.variants)
    runs: list[dict[str, Any]] = []
    for name in args.streams:
        meta = STREAMS[name]()
        if args.quick:  # two experiences are enough to exercise every memory
            meta = replace(meta, experiences=meta.experiences[:2])
        stream = to_device(meta.experiences, device)
        for epochs in args.epochs:
            for setting in settings:
                for seed in args.seeds:
                    result = run_one(
                        setting, meta, stream, epochs, seed, device, args.mixed_precision
                    )
                    runs.append(asdict(result))
                    print(
                        f"[{time.perf_counter() - started:7.1f} s] {name} {setting.key} "
                        f"ep {epochs} seed {seed}: ACC {result.acc:.3f} ({result.seconds:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
    return {
        "command": shlex.join(["python", "bench/continual.py", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_seconds": time.perf_counter() - started,
        "machine": machine_info(device),
        "config": {
            "streams": args.streams,
            "seeds": args.seeds,
            "epochs": args.epochs,
            "memory": args.memory,
            "methods": methods,
            "variants": args.variants,
            "mixed_precision": args.mixed_precision and device.type == "cuda",
            "batch_size": BATCH_SIZE,
        },
        "missing": missing,
        "note": args.note,
        "runs": runs,
    }


def merged(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Several dumps as one: the first's provenance, the summed wall time, every run, a
    later dump's run replacing an earlier one of the same line and seed (a re-run)."""
    first = dict(reports[0])
    runs: dict[tuple[Any, ...], dict[str, Any]] = {}
    for report in reports:
        for run in report["runs"]:
            key = (run.get("stream"), run["label"], run["memory"], run["epochs"], run["seed"])
            runs[key] = run
    first["runs"] = list(runs.values())
    first["wall_seconds"] = sum(report["wall_seconds"] for report in reports)
    if len(reports) > 1:
        first["command"] = " ; ".join(report["command"] for report in reports)
    return first


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train (or load dumps), print the summaries, then write what was asked for."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.from_json:
        report = merged([json.loads(path.read_text()) for path in args.from_json])
        if args.note:
            report["note"] = args.note
    else:
        report = run_benchmark(args)
    avalanche = (
        merged([json.loads(path.read_text()) for path in args.avalanche])
        if args.avalanche
        else None
    )
    print_summaries(summarize(report["runs"]), summarize(avalanche["runs"]) if avalanche else [])
    print(f"wall time {report['wall_seconds']:.0f} s")
    if args.json and not args.from_json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.write_benchmarks:
        write_benchmarks(markdown_block(report, avalanche))
        print(f"updated {BENCHMARKS_PATH}")
    return report


if __name__ == "__main__":
    main()
