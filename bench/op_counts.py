"""Operations per training step of each updater, against the plain step they contain.

Each ATen operation an updater issues is about one kernel launch on a GPU, so the count
of one step is what launch overhead scales with. A ``TorchDispatchMode`` counts the
operations that compute something (views, bare allocations and profiler markers are not
counted); a step's count is the difference between a fit of ``long`` steps and one of
``short`` steps, divided by the difference, so that what a fit does once (optimizer,
memory, consolidation) drops out and RWalk's window closes are spread over the steps. SGD runs
with ``foreach`` on, as it does by default on CUDA; the CPU's fp32 path is counted (the
updaters' autocast is CUDA-only).

    python bench/op_counts.py                 # MLP 784-256-256-10 and resnet18 (32×32)
    python bench/op_counts.py --models mlp --gem-past 1 2 4
"""

from __future__ import annotations

import argparse
import platform
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from app.schemas.updaters import TrainingConfig, UpdaterSpec
from worker.architectures.mlp import MLP
from worker.architectures.resnet import build_resnet18
from worker.updaters import agem, gem, naive, rwalk
from worker.updaters.protocol import Experience
from worker.updaters.registry import build_updater

CPU = torch.device("cpu")
BATCH = 32
"""New samples per step, and memory samples per reference gradient."""

NOT_COMPUTING = frozenset(
    {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "resize_"}
    | {"_record_function_enter", "_record_function_enter_new", "_record_function_exit"}
)
"""Allocations and profiler markers: no kernel runs."""


class OpCounter(TorchDispatchMode):
    """Counts the ATen operations run under it, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = func.overloadpacket.__name__
        if not func.is_view and name not in NOT_COMPUTING:
            self.ops[name] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.ops.values())


def counted(fn: Callable[[], object]) -> Counter[str]:
    with OpCounter() as counter:
        fn()
    return counter.ops


@contextmanager
def foreach_optimizers() -> Iterator[None]:
    """SGD/Adam with ``foreach`` on, as torch picks by default for CUDA tensors."""
    modules = (agem, gem, naive, rwalk)
    originals = {module: module.make_optimizer for module in modules}

    def make(model: nn.Module, training: TrainingConfig) -> torch.optim.Optimizer:
        optimizer = originals[agem](model, training)
        for group in optimizer.param_groups:
            group["foreach"] = True
        return optimizer

    patches = [mock.patch.object(module, "make_optimizer", make) for module in modules]
    for patch in patches:
        patch.start()
    try:
        yield
    finally:
        for patch in reversed(patches):
            patch.stop()


def experience(shape: tuple[int, ...], steps: int, classes: int, seed: int) -> Experience:
    generator = torch.Generator().manual_seed(seed)
    n = BATCH * steps
    return Experience(
        torch.randn(n, *shape, generator=generator),
        torch.randint(0, classes, (n,), generator=generator),
    )


SETTINGS: dict[str, dict[str, Any]] = {
    "naive": {},
    "agem": {"patterns_per_experience": BATCH, "sample_size": BATCH},
    "gem": {"patterns_per_experience": BATCH},
    "rwalk": {"delta_t": 10},
    "rwalk+replay": {"delta_t": 10, "memory_size": 200, "memory_batch_size": BATCH},
}


def updater_spec(method: str) -> UpdaterSpec:
    return UpdaterSpec(name=method.split("+")[0], params=SETTINGS[method])  # type: ignore[arg-type]


def ops_per_step(
    method: str,
    build_model: Callable[[], nn.Module],
    shape: tuple[int, ...],
    classes: int,
    past: int = 1,
    short: int = 2,
    long: int = 12,
) -> float:
    """Operations per step of ``method`` after ``past`` experiences (its memory filled)."""
    torch.manual_seed(0)
    model = build_model()
    training = TrainingConfig(batch_size=BATCH, epochs=1, lr=0.01)
    spec = updater_spec(method)
    with foreach_optimizers():
        updater = build_updater(spec, model, training, CPU)
        for k in range(past):
            updater.fit(experience(shape, 2, classes, seed=k))
        state, weights = updater.state_dict(), {k: v.clone() for k, v in model.state_dict().items()}
        counts = []
        for steps in (short, short, long):  # the first run only warms caches up
            model.load_state_dict(weights)
            resumed = build_updater(spec, model, training, CPU, state)
            data = experience(shape, steps, classes, seed=100 + steps)
            counts.append(counted(lambda: resumed.fit(data)))  # noqa: B023
    return (sum(counts[2].values()) - sum(counts[1].values())) / (long - short)


def ops_of_forward_backward(build_model: Callable[[], nn.Module], shape: tuple[int, ...]) -> int:
    """One forward, cross-entropy and backward of a batch: what each extra pass adds."""
    torch.manual_seed(0)
    model = build_model().train()
    data = experience(shape, 1, 10, seed=0)
    model(data.x)  # warm-up outside the count (lazy initialisation)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(data.x), data.y).backward()

    return sum(counted(step).values())


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (lambda: MLP(784, [256, 256], 10), (784,)),
    "resnet18": (
        lambda: build_resnet18({"input_shape": [3, 32, 32], "num_classes": 10}),
        (3, 32, 32),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--methods", nargs="+", default=["naive", "agem", "rwalk", "rwalk+replay", "gem"]
    )
    parser.add_argument("--gem-past", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()},"
        f" torch {torch.__version__}; ops per step, batch {BATCH} new + {BATCH} memory"
    )
    for name in args.models:
        build, shape = MODELS[name]
        tensors = sum(1 for p in build().parameters() if p.requires_grad)
        passes = ops_of_forward_backward(build, shape)
        print(f"\n{name}: {tensors} parameter tensors; one forward+backward: {passes} ops")
        for method in args.methods:
            pasts = args.gem_past if method == "gem" else [1]
            for past in pasts:
                count = ops_per_step(method, build, shape, 10, past=past)
                label = f"{method} (t={past})" if method == "gem" else method
                print(f"  {label:<16} {count:8.1f}")


if __name__ == "__main__":
    main()
