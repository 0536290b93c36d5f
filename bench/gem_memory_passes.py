"""GEM's t memory gradients: one backward pass each (what ``GEM`` does) against a single
``torch.func`` batched call (``vmap`` of ``grad`` over the t memories), same model and
data, interleaved repeats, medians. Decides whether the batching pays on a device.

    python bench/gem_memory_passes.py --model mlp_784_1024 --past 4 --device cpu
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

if __package__ in (None, ""):  # run as `python bench/gem_memory_passes.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gpu_step import MODELS
from bench.runner import fresh_model
from bench.step_probe import synchronize
from bench.step_subjects import input_shape

Gradients = list[tuple[torch.Tensor, ...]]


def memory_gradients(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[Callable[[], Gradients], Callable[[], Gradients]]:
    """The t memory gradients (t × each parameter's shape) two ways: a backward pass per
    memory (what ``GEM`` does), and one ``vmap`` of ``grad`` over the t memories."""
    parameters = dict(model.named_parameters())

    def loss(p: dict[str, torch.Tensor], xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, p, (xs,)), ys)

    def one_pass_each() -> Gradients:
        return [
            torch.autograd.grad(loss(parameters, x[k], y[k]), list(parameters.values()))
            for k in range(x.shape[0])
        ]

    batched_grad = vmap(grad(loss), in_dims=(None, 0, 0))

    def batched() -> Gradients:
        stacked = batched_grad({n: p.detach() for n, p in parameters.items()}, x, y)
        return [tuple(stacked[n][k] for n in parameters) for k in range(x.shape[0])]

    return one_pass_each, batched


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", choices=["mlp_784_256", "mlp_784_1024"], default="mlp_784_1024")
    parser.add_argument("--past", type=int, default=4, help="t, past experiences")
    parser.add_argument("--patterns", type=int, default=100, help="samples per memory")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device(args.device)
    architecture = MODELS[args.model]
    model = fresh_model(architecture, 0, device)  # no BatchNorm: vmap cannot update its stats
    g = torch.Generator().manual_seed(0)
    shape = (args.past, args.patterns, *input_shape(architecture))
    x = torch.randn(*shape, generator=g).to(device)
    y = torch.randint(0, 10, (args.past, args.patterns), generator=g).to(device)
    one_pass_each, batched = memory_gradients(model, x, y)
    subjects = {"one pass each": one_pass_each, "vmap": batched}
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(args.repeats + 1):  # the first round warms up
        for name, run in subjects.items():
            synchronize(device)
            started = time.perf_counter()
            run()
            synchronize(device)
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(t[1:]) * 1e3 for name, t in times.items()}
    print(f"{args.model}, t = {args.past} memories of {args.patterns}, {device}: ms per step")
    for name, ms in medians.items():
        print(f"| {name} | {ms:.2f} |")
    return medians


if __name__ == "__main__":
    main()
