"""Avalanche 0.6.0 on relearn's benchmark streams and protocol, dumped as JSON for the
report of ``bench/continual.py`` (``--avalanche``).

Same streams (``bench.streams``), same table lines (``bench.methods``, defaults only: each
line's Avalanche counterpart is ``bench.references.AVALANCHE_COUNTERPART``), same models
with the same seeded initial weights (``worker.architectures.initial_model``), SGD without
momentum at the stream's learning rate (a fresh optimizer state per experience, as both
do), batch 32 new + 32 memory samples, fp32 on the CPU. Accuracy after each experience is
measured here in eval mode on each eval split, and scored with ``app.continual_metrics``
as relearn's runs are.

Avalanche is not a dependency of relearn: run this from an environment of its own, e.g.

    python3 -m venv /tmp/avl-venv
    /tmp/avl-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 avalanche-lib==0.6.0 \\
        quadprog mnist1d jsonschema
    /tmp/avl-venv/bin/python bench/avalanche_reference.py --json avalanche.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from torch import nn

if __package__ in (None, ""):  # run as `python bench/avalanche_reference.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avalanche.benchmarks.scenarios.deprecated.generic_benchmark_creation import (
    create_generic_benchmark_from_tensor_lists,
)
from avalanche.training import AGEM, DER, ER_ACE, GEM, JointTraining, Naive
from avalanche.training.determinism.rng_manager import RNGManager
from avalanche.training.plugins import EvaluationPlugin, ReplayPlugin, RWalkPlugin
from avalanche.training.templates import SupervisedTemplate

from app.architectures import ArchitectureSpec
from app.continual_metrics import average_accuracy, backward_transfer, forgetting
from bench.continual import machine_info
from bench.methods import AGEM_SAMPLE_SIZE, DER_ALPHA, DERPP_BETA, METHODS, settings_for
from bench.runner import BATCH_SIZE
from bench.streams import DEFAULT_STREAMS, NUM_EXPERIENCES, STREAMS, Stream
from worker.architectures import initial_model

RWALK = {"ewc_lambda": 0.1, "ewc_alpha": 0.9, "delta_t": 10}  # relearn's defaults, Avalanche's


def strategy_for(
    label: str, memory: int, model: nn.Module, lr: float, epochs: int
) -> SupervisedTemplate:
    """Avalanche's counterpart of a table line."""
    common: dict[str, Any] = {
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=lr),
        "criterion": nn.CrossEntropyLoss(),
        "train_mb_size": BATCH_SIZE,
        "train_epochs": epochs,
        "eval_mb_size": 1024,
        "device": "cpu",
        "evaluator": EvaluationPlugin(loggers=[]),
    }
    replay = ReplayPlugin(mem_size=memory, batch_size=BATCH_SIZE, batch_size_mem=BATCH_SIZE)
    per_experience = memory // NUM_EXPERIENCES
    if label == "naive":
        return Naive(**common)
    if label == "joint":
        return JointTraining(**common)
    if label == "er":
        return Naive(**common, plugins=[replay])
    if label in ("der", "der++"):
        beta = DERPP_BETA if label == "der++" else 0.0
        return DER(**common, mem_size=memory, batch_size_mem=BATCH_SIZE, alpha=DER_ALPHA, beta=beta)
    if label == "er_ace":
        return ER_ACE(**common, mem_size=memory, batch_size_mem=BATCH_SIZE)
    if label == "gem":
        return GEM(**common, patterns_per_exp=per_experience, memory_strength=0.5)
    if label == "agem":
        return AGEM(**common, patterns_per_exp=per_experience, sample_size=AGEM_SAMPLE_SIZE)
    if label == "rwalk":
        return Naive(**common, plugins=[RWalkPlugin(**RWALK)])
    if label == "rwalk+replay":
        return Naive(**common, plugins=[RWalkPlugin(**RWALK), replay])
    raise ValueError(label)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(
        int((model(xb).argmax(1) == yb).sum())
        for xb, yb in zip(x.split(1024), y.split(1024), strict=True)
    )
    model.train()
    return correct / len(y)


def run_one(stream: Stream, label: str, memory: str, epochs: int, seed: int) -> dict[str, Any]:
    """One seed of one line, as a relearn ``RunResult`` dict."""
    RNGManager.set_random_seeds(seed)
    model = initial_model(ArchitectureSpec.model_validate(stream.architecture), seed)
    memory_size = int(memory.split()[0]) if memory != "—" else 0
    strategy = strategy_for(label, memory_size, model, stream.lr, epochs)
    tensors = [
        (torch.from_numpy(e.x_train), torch.from_numpy(e.y_train)) for e in stream.experiences
    ]
    evals = [(torch.from_numpy(e.x_eval), torch.from_numpy(e.y_eval)) for e in stream.experiences]
    benchmark = create_generic_benchmark_from_tensor_lists(
        train_tensors=tensors, test_tensors=evals, task_labels=[0] * len(tensors)
    )
    started = time.perf_counter()
    matrix: list[list[float]] = []
    if label == "joint":
        strategy.train(benchmark.train_stream)
        matrix.append([accuracy(model, x, y) for x, y in evals])
    else:
        for i, experience in enumerate(benchmark.train_stream):
            strategy.train(experience)
            matrix.append([accuracy(model, x, y) for x, y in evals[: i + 1]])
    acc = average_accuracy(matrix)
    return {
        "stream": stream.name,
        "method": type(strategy).__name__,
        "label": label,
        "variant": "",
        "memory": memory,
        "epochs": epochs,
        "seed": seed,
        "accuracy_matrix": matrix,
        "acc": acc,
        "forgetting": forgetting(matrix),
        "bwt": backward_transfer(matrix),
        "seconds": time.perf_counter() - started,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--streams", nargs="+", choices=list(STREAMS), default=list(DEFAULT_STREAMS)
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--memory", type=int, nargs="+", default=[500])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    for name in args.streams:
        stream = STREAMS[name]()
        for epochs in args.epochs:
            for setting in settings_for(args.methods, args.memory):
                for seed in args.seeds:
                    run = run_one(stream, setting.label, setting.memory, epochs, seed)
                    runs.append(run)
                    print(
                        f"[{time.perf_counter() - started:7.1f} s] {name} {setting.key} ep "
                        f"{epochs} seed {seed}: ACC {run['acc']:.3f} ({run['seconds']:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
                    args.json.write_text(json.dumps(report(args, started, runs), indent=1))


def report(args: argparse.Namespace, started: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    machine = machine_info(torch.device("cpu"))
    machine["versions"] = f"avalanche-lib {version('avalanche-lib')}, torch {torch.__version__}"
    return {
        "command": shlex.join(["python", "bench/avalanche_reference.py", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_seconds": time.perf_counter() - started,
        "machine": machine,
        "config": {"streams": args.streams, "seeds": args.seeds, "epochs": args.epochs},
        "runs": runs,
    }


if __name__ == "__main__":
    main()
