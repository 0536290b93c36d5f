"""Naive fine-tuning: cross-entropy on the new chunk only. The forgetting lower bound."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.schemas.updaters import NaiveParams, TrainingConfig
from worker.updaters.protocol import Experience, FitReport, ProgressFn, UpdaterState
from worker.updaters.rng import make_generator, restore_run_state, run_state
from worker.updaters.training_loop import autocast, make_optimizer, run_epochs


class Naive:
    name = "naive"

    def __init__(
        self,
        model: nn.Module,
        params: NaiveParams,
        training: TrainingConfig,
        device: torch.device,
    ) -> None:
        self.model, self.params, self.training, self.device = model, params, training, device
        self.generator = make_generator(training.seed, device)
        self.experiences_seen = 0

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.training):
                loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            optimizer.step()
            return loss.detach()

        report = run_epochs(self.model, experience, self.training, self.generator, step, progress)
        self.experiences_seen += 1
        return report

    def state_dict(self) -> UpdaterState:
        return run_state(self.generator, self.experiences_seen)

    def load_state_dict(self, state: UpdaterState) -> None:
        self.experiences_seen = restore_run_state(state, self.generator)
