"""Class-incremental Split-MNIST-1D: how much each updater forgets, against naive and joint.

The entry point: runs every setting (``bench.methods``) over seeds and epoch counts with
the real updaters (``bench.runner``), then prints and renders the report (``bench.report``).
ACC, BWT and forgetting are the service's own (``app.continual_metrics``), so the benchmark
and the API report the same quantities.

    python bench/continual.py                       # the full benchmark (make bench)
    python bench/continual.py --quick               # smoke run
    python bench/continual.py --write-benchmarks --json results.json
    python bench/continual.py --from-json results.json --write-benchmarks   # no training
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
from dataclasses import asdict
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
from bench.runner import BATCH_SIZE, HIDDEN, LR, run_one, to_device
from bench.split_mnist1d import split_mnist1d
from worker.updaters.registry import UPDATERS

NUM_SAMPLES = 20_000
DATA_SEED = 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; ``--quick`` narrows the grid to a smoke run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--memory", type=int, nargs="+", default=[200, 500])
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=None,
        help="default: every method whose updater is registered",
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: for this small MLP, batch 32, more threads only add "
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
        help="smoke run: seed 0, 1 epoch, memory 200, naive/joint/er/der++",
    )
    parser.add_argument(
        "--write-benchmarks",
        action="store_true",
        help=f"update the section '{SECTION_TITLE[3:]}' of BENCHMARKS.md",
    )
    parser.add_argument("--json", type=Path, help="dump the raw results here")
    parser.add_argument(
        "--from-json", type=Path, help="report from a previous --json dump instead of training"
    )
    parser.add_argument("--note", default="", help="a line added to the BENCHMARKS.md block")
    args = parser.parse_args(argv)
    if args.quick and args.write_benchmarks:
        parser.error("--quick is a smoke run; its figures do not belong in BENCHMARKS.md")
    if args.quick:
        args.seeds, args.epochs, args.memory = [0], [1], [200]
        args.methods = args.methods or list(QUICK_METHODS)
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
    if missing:
        print(f"skipping, not registered yet: {', '.join(missing)}", file=sys.stderr)
    methods = [m for m in requested if m not in missing]
    device = torch.device(args.device)
    started = time.perf_counter()
    stream = to_device(split_mnist1d(num_samples=NUM_SAMPLES, data_seed=DATA_SEED), device)
    print(f"stream built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    settings = settings_for(methods, args.memory)
    runs: list[dict[str, Any]] = []
    for epochs in args.epochs:
        for setting in settings:
            for seed in args.seeds:
                result = run_one(setting, stream, epochs, seed, device, args.mixed_precision)
                runs.append(asdict(result))
                print(
                    f"[{time.perf_counter() - started:7.1f} s] {setting.key} ep {epochs} "
                    f"seed {seed}: ACC {result.acc:.3f} ({result.seconds:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return {
        "command": shlex.join(["python", "bench/continual.py", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_seconds": time.perf_counter() - started,
        "machine": machine_info(device),
        "config": {
            "seeds": args.seeds,
            "epochs": args.epochs,
            "memory": args.memory,
            "methods": methods,
            "mixed_precision": args.mixed_precision and device.type == "cuda",
            "lr": LR,
            "batch_size": BATCH_SIZE,
            "hidden": HIDDEN,
        },
        "missing": missing,
        "note": args.note,
        "runs": runs,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Train (or load a dump), print the summaries, then write what was asked for."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        if args.note:
            report["note"] = args.note
    else:
        report = run_benchmark(args)
    print_summaries(summarize(report["runs"]))
    print(f"wall time {report['wall_seconds']:.0f} s")
    if args.json and not args.from_json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.write_benchmarks:
        write_benchmarks(markdown_block(report))
        print(f"updated {BENCHMARKS_PATH}")


if __name__ == "__main__":
    main()
