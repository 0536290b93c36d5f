"""One benchmark run: a setting trained on the stream by the real updater, with its
accuracy matrix and the continual summaries the service reports (``app.continual_metrics``).

The model starts from the architecture's seeded initialisation (the service's version 0
for that seed) and each experience is one ``fit`` call, so the figures measure what a
client of the service would get.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from app.architectures import ArchitectureSpec
from app.continual_metrics import average_accuracy, backward_transfer, forgetting
from app.schemas.updaters import TrainingConfig, UpdaterSpec
from bench.methods import Setting
from bench.split_mnist1d import ExperienceSplit
from bench.streams import Stream
from worker.architectures import initial_model
from worker.evaluation import accuracy
from worker.updaters.protocol import Experience
from worker.updaters.registry import build_updater

BATCH_SIZE = 32


@dataclass
class RunResult:
    """One seed of one setting; saved as a dict in the ``--json`` dump."""

    stream: str
    method: str
    label: str
    variant: str
    memory: str
    updater: str
    params: dict[str, Any]
    epochs: int
    seed: int
    accuracy_matrix: list[list[float]]  # row i: after experience i, entries j <= i
    acc: float
    forgetting: float | None
    bwt: float | None
    seconds: float


@dataclass(frozen=True)
class DeviceExperience:
    """An experience's training data and eval split, already on the device."""

    train: Experience
    x_eval: torch.Tensor
    y_eval: torch.Tensor


def to_device(stream: list[ExperienceSplit], device: torch.device) -> list[DeviceExperience]:
    """Move the stream to the device once, before any run."""
    return [
        DeviceExperience(
            train=Experience(
                torch.from_numpy(e.x_train).to(device), torch.from_numpy(e.y_train).to(device)
            ),
            x_eval=torch.from_numpy(e.x_eval).to(device),
            y_eval=torch.from_numpy(e.y_eval).to(device),
        )
        for e in stream
    ]


def fresh_model(architecture: dict[str, Any], seed: int, device: torch.device) -> torch.nn.Module:
    """The service's version 0 for this seed: the architecture's seeded initialisation."""
    return initial_model(ArchitectureSpec.model_validate(architecture), seed).to(device)


def run_one(
    setting: Setting,
    meta: Stream,
    stream: list[DeviceExperience],
    epochs: int,
    seed: int,
    device: torch.device,
    mixed_precision: bool,
) -> RunResult:
    """One seed of one setting: a ``fit`` per experience (one for joint), evaluated after each."""
    training = TrainingConfig(
        epochs=epochs,
        batch_size=BATCH_SIZE,
        lr=meta.lr,
        seed=seed,
        mixed_precision=mixed_precision,
    )
    model = fresh_model(meta.architecture, seed, device)
    updater = build_updater(
        UpdaterSpec(name=setting.updater, params=setting.params), model, training, device
    )
    started = time.perf_counter()
    matrix: list[list[float]] = []
    if setting.method == "joint":
        union = Experience(
            torch.cat([e.train.x for e in stream]), torch.cat([e.train.y for e in stream])
        )
        updater.fit(union)
        matrix.append([accuracy(model, e.x_eval, e.y_eval, training) for e in stream])
    else:
        for i, experience in enumerate(stream):
            updater.fit(experience.train)
            matrix.append([accuracy(model, e.x_eval, e.y_eval, training) for e in stream[: i + 1]])
    acc = average_accuracy(matrix)
    if acc is None:  # every experience has an eval split, so the last row is never empty
        raise RuntimeError(f"{setting.key}: no accuracy after the last experience")
    return RunResult(
        stream=meta.name,
        method=setting.method,
        label=setting.label,
        variant=setting.variant,
        memory=setting.memory,
        updater=setting.updater,
        params=setting.params,
        epochs=epochs,
        seed=seed,
        accuracy_matrix=matrix,
        acc=acc,
        forgetting=forgetting(matrix),
        bwt=backward_transfer(matrix),
        seconds=time.perf_counter() - started,
    )
