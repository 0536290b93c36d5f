"""How much an update costs beyond the plain training step it contains.

For each updater, times ``fit`` on one chunk against a plain PyTorch loop that does the
same number of optimizer steps on the same batches (forward, cross-entropy, backward,
step) — measured side by side in one process, interleaved, best of ``--repeats``, and
reported as a ratio so that a noisy shared machine still gives comparable figures.

    python bench/overhead.py --device cpu --samples 4096 --repeats 5
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import torch
import torch.nn.functional as F

from app.schemas.updaters import TrainingConfig, UpdaterSpec
from worker.architectures.mlp import MLP
from worker.updaters.protocol import Experience
from worker.updaters.registry import UPDATERS, build_updater

SETTINGS: dict[str, dict] = {
    "naive": {},
    "er": {"memory_size": 500},
    "der": {"memory_size": 500, "alpha": 0.3, "beta": 0.5},
    "gem": {"patterns_per_experience": 100, "memory_strength": 0.5},
    "agem": {"patterns_per_experience": 100, "sample_size": 64},
    "rwalk": {},
    "er_ace": {"memory_size": 500},
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(model: torch.nn.Module, exp: Experience, training: TrainingConfig) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=training.lr)
    generator = torch.Generator(device=exp.x.device).manual_seed(0)
    for _ in range(training.epochs):
        order = torch.randperm(len(exp), generator=generator, device=exp.x.device)
        for index in order.split(training.batch_size):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(exp.x[index]), exp.y[index]).backward()
            optimizer.step()


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", nargs="*", default=list(SETTINGS))
    args = parser.parse_args()
    torch.set_num_threads(min(4, torch.get_num_threads()))
    device = torch.device(args.device)
    training = TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=0.05, mixed_precision=False
    )
    g = torch.Generator().manual_seed(0)
    experiences = [
        Experience(
            torch.randn(args.samples, 40, generator=g).to(device),
            torch.randint(2 * k, 2 * k + 2, (args.samples,), generator=g).to(device),
        )
        for k in range(3)
    ]

    def fresh() -> MLP:
        torch.manual_seed(0)
        return MLP(40, [args.hidden, args.hidden], 10).to(device)

    print(
        f"# overhead of fit vs a plain loop, {datetime.now(UTC):%Y-%m-%d}, "
        f"{platform.processor() or platform.machine()}, device={device}, torch "
        f"{torch.__version__}, {args.samples} samples x {args.epochs} epoch(s), "
        f"batch {args.batch_size}, third chunk of three (memories full)"
    )
    print("| updater | fit (s) | plain loop (s) | ratio |")
    print("|---|---|---|---|")
    for name in args.methods:
        if name not in UPDATERS:
            print(f"| {name} | not registered | | |")
            continue
        fits, plains = [], []
        for _ in range(args.repeats):
            model = fresh()
            updater = build_updater(
                UpdaterSpec(name=name, params=SETTINGS[name]), model, training, device
            )
            for exp in experiences[:2]:  # fill memories / importances first
                updater.fit(exp)
            fits.append(timed(partial(updater.fit, experiences[2]), device))
            baseline = fresh()
            plains.append(timed(partial(plain_loop, baseline, experiences[2], training), device))
        fit, plain = min(fits), min(plains)
        print(f"| {name} | {fit:.3f} | {plain:.3f} | {fit / plain:.2f} |")


if __name__ == "__main__":
    main()
