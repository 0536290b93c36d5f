"""What ``gpu_step.py`` times: relearn's updaters and the plain training step.

Each subject is prepared once (priors learned, state saved) and then ``run`` any number
of times, each run the same steps from the same state, calling a callback after each step.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F

from app.schemas.updaters import TrainingConfig, UpdaterSpec
from bench.methods import Setting
from bench.runner import BATCH_SIZE, fresh_model
from bench.step_probe import StepCallback
from worker.updaters.protocol import Experience, UpdaterState
from worker.updaters.registry import build_updater
from worker.updaters.training_loop import make_optimizer

Stream = list[tuple[torch.Tensor, torch.Tensor]]  # CPU tensors, one pair per experience


def input_shape(architecture: dict[str, Any]) -> tuple[int, ...]:
    params = architecture["params"]
    return tuple(params["input_shape"]) if "input_shape" in params else (params["input_dim"],)


def make_stream(architecture: dict[str, Any], prior: int, last: int, experiences: int) -> Stream:
    """Random inputs, classes {2k, 2k+1} in experience k: ``prior`` samples in each but the
    last, ``last`` in the last (the timed one)."""
    g = torch.Generator().manual_seed(0)
    shape = input_shape(architecture)
    stream = []
    for k in range(experiences):
        n = last if k == experiences - 1 else prior
        x = torch.randn(n, *shape, generator=g)
        stream.append((x, torch.randint(2 * k, 2 * k + 2, (n,), generator=g)))
    return stream


def training_config() -> TrainingConfig:
    return TrainingConfig(epochs=1, batch_size=BATCH_SIZE, lr=0.05, seed=0, mixed_precision=False)


def cloned(state: UpdaterState) -> UpdaterState:
    return UpdaterState(
        tensors={k: v.clone() for k, v in state.tensors.items()}, meta=copy.deepcopy(state.meta)
    )


class RelearnSteps:
    """An updater's fit of the last experience, from its state after the priors."""

    def __init__(
        self,
        setting: Setting,
        architecture: dict[str, Any],
        stream: Stream,
        lr: float,
        device: torch.device,
    ) -> None:
        self.setting, self.architecture, self.device = setting, architecture, device
        self.training = training_config().model_copy(update={"lr": lr})
        self.experiences = [Experience(x.to(device), y.to(device)) for x, y in stream]
        self.snapshot: tuple[dict[str, torch.Tensor], UpdaterState] | None = None

    def _build(self) -> tuple[torch.nn.Module, Any]:
        model = fresh_model(self.architecture, 0, self.device)
        spec = UpdaterSpec(name=self.setting.updater, params=self.setting.params)
        return model, build_updater(spec, model, self.training, self.device)

    def prepare(self) -> None:
        model, updater = self._build()
        for experience in self.experiences[:-1]:
            updater.fit(experience)
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        self.snapshot = (weights, cloned(updater.state_dict()))

    def run(self, callback: StepCallback) -> None:
        if self.snapshot is None:
            raise RuntimeError("prepare() first")
        model, updater = self._build()
        model.load_state_dict(self.snapshot[0])
        updater.load_state_dict(cloned(self.snapshot[1]))
        updater.fit(self.experiences[-1], progress=callback)


class PlainSteps:
    """zero_grad, forward, cross-entropy, backward, optimizer step on batches of ``size``."""

    def __init__(
        self,
        architecture: dict[str, Any],
        size: int,
        steps: int,
        lr: float,
        device: torch.device,
    ) -> None:
        self.architecture, self.size, self.steps, self.device = architecture, size, steps, device
        self.training = training_config().model_copy(update={"lr": lr, "batch_size": size})
        self.model: torch.nn.Module | None = None

    def prepare(self) -> None:
        self.model = fresh_model(self.architecture, 0, self.device)
        g = torch.Generator().manual_seed(1)
        n = self.size * self.steps
        self.x = torch.randn(n, *input_shape(self.architecture), generator=g).to(self.device)
        self.y = torch.randint(0, 10, (n,), generator=g).to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(0)

    def run(self, callback: StepCallback) -> None:
        if self.model is None:
            raise RuntimeError("prepare() first")
        model = self.model
        model.train()
        optimizer = make_optimizer(model, self.training)  # a fresh one per fit, as updaters
        order = torch.randperm(len(self.y), generator=self.generator, device=self.device)
        for index in order.split(self.size):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(self.x[index]), self.y[index]).backward()
            optimizer.step()
            callback()
