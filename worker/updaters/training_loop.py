"""The mechanics every updater shares: optimizer, autocast, batches, progress, report.

An updater supplies only its *training step* (``step(x, y) -> loss``); this module feeds
it shuffled batches of the experience, drawn by indexing tensors that already live on
the device (no DataLoader, no per-step host sync: losses are kept on the device and read
once at the end).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from functools import partial

import torch
from torch import nn

from app.schemas.updaters import TrainingConfig
from worker.updaters.batch_forward import has_batch_coupled_layers
from worker.updaters.compiled_step import compiled_step
from worker.updaters.protocol import Experience, FitReport, ProgressFn
from worker.updaters.rng import draw_seed, seeded_global_rng

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""One training step on a batch of new samples; returns the detached loss."""


def make_optimizer(model: nn.Module, training: TrainingConfig) -> torch.optim.Optimizer:
    """A fresh optimizer for each experience (as Avalanche does by default), so that no
    optimizer state has to travel between chunks."""
    params = [p for p in model.parameters() if p.requires_grad]
    if training.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=training.lr, momentum=training.momentum, weight_decay=training.weight_decay
        )
    if training.optimizer == "adam":
        return torch.optim.Adam(params, lr=training.lr, weight_decay=training.weight_decay)
    return torch.optim.AdamW(params, lr=training.lr, weight_decay=training.weight_decay)


def autocast(device: torch.device, training: TrainingConfig) -> AbstractContextManager[object]:
    """bf16 autocast on CUDA when enabled; a no-op on the CPU (keeps CPU runs exact)."""
    if device.type == "cuda" and training.mixed_precision:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def shuffled_batches(
    n: int, batch_size: int, generator: torch.Generator, no_single: bool = False
) -> Iterator[torch.Tensor]:
    """Index tensors of one epoch: a permutation drawn on the generator's device. With
    ``no_single``, a last batch of one sample joins the one before: a BatchNorm layer in
    train mode cannot normalise a lone sample (``torch`` raises for BatchNorm1d)."""
    order = torch.randperm(n, generator=generator, device=generator.device)
    parts = list(order.split(batch_size))
    if no_single and len(parts) > 1 and parts[-1].numel() == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    yield from parts


def steps_per_epoch(n: int, batch_size: int, no_single: bool = False) -> int:
    steps = -(-n // batch_size)
    return steps - 1 if no_single and steps > 1 and n % batch_size == 1 else steps


def last_epoch_start(n: int, training: TrainingConfig, model: nn.Module) -> int:
    """The first step (0-based, over the whole fit) of the last epoch: when replay methods
    that offer step by step offer a new sample to their memory, once, so the memory holds no
    duplicates and DER's training logits come from a model that has learned the chunk."""
    no_single = has_batch_coupled_layers(model)
    return (training.epochs - 1) * steps_per_epoch(n, training.batch_size, no_single)


def run_epochs(
    model: nn.Module,
    experience: Experience,
    training: TrainingConfig,
    generator: torch.Generator,
    step: StepFn,
    progress: ProgressFn | None = None,
) -> FitReport:
    """Train ``training.epochs`` epochs of ``experience`` with ``step``, in train mode (and
    left so). The global RNG (dropout) is seeded from ``generator`` meanwhile, so the run
    is reproducible from the updater's saved state alone."""
    n = len(experience)
    no_single = has_batch_coupled_layers(model)
    per_epoch = steps_per_epoch(n, training.batch_size, no_single)
    total = per_epoch * training.epochs
    device = experience.x.device
    epoch_losses: list[torch.Tensor] = []
    model.train()
    started = time.perf_counter()
    done = 0
    with (
        seeded_global_rng(draw_seed(generator), device),
        compiled_step(step, training.compile) as train_step,
    ):
        for _ in range(training.epochs):
            losses = torch.zeros(per_epoch, device=device)
            for i, index in enumerate(
                shuffled_batches(n, training.batch_size, generator, no_single)
            ):
                losses[i] = train_step(experience.x[index], experience.y[index])
                done += 1
                if progress is not None:
                    progress(done / total, partial(mean_of_first, losses, i + 1))
            epoch_losses.append(losses.mean())
    curve = torch.stack(epoch_losses).tolist()  # the one host sync of the fit
    return FitReport(
        steps=total,
        samples=n * training.epochs,
        seconds=time.perf_counter() - started,
        loss_curve=[float(v) for v in curve],
    )


def mean_of_first(losses: torch.Tensor, n: int) -> float:
    """The mean of the first ``n`` step losses of an epoch (a host sync: read lazily)."""
    return float(losses[:n].mean())
