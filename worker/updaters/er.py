"""Experience Replay (Chaudhry et al. 2019, "On Tiny Episodic Memories in Continual
Learning"), shaped as Mammoth's ``models/er.py``.

Each step trains on the new batch concatenated with a memory batch (one mean cross-entropy
over both, one forward: with BatchNorm the two share batch statistics, as in Mammoth and
Avalanche's replay). The memory is class-balanced or a reservoir (``memory_policy``).
Each new sample is offered to it once per chunk: ``after_fit`` (default) offers the chunk
once it is learned, so every memory batch is past data (GEM's episodic memory,
Avalanche's replay); ``before_fit`` before training on it; ``last_epoch`` each batch after
its step in the last epoch (online ER as in the paper; Mammoth re-offers every epoch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.schemas.updaters import ERACEParams, ERParams, TrainingConfig
from worker.updaters.protocol import Experience, FitReport, ProgressFn
from worker.updaters.replay_updater import ReplayUpdater
from worker.updaters.training_loop import autocast, last_epoch_start, make_optimizer, run_epochs


class ER(ReplayUpdater):
    name = "er"

    def __init__(
        self,
        model: nn.Module,
        params: ERParams | ERACEParams,
        training: TrainingConfig,
        device: torch.device,
    ) -> None:
        super().__init__(model, params, training, device)
        self.params = params

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)
        last_epoch_from = last_epoch_start(len(experience), self.training, self.model)
        steps_done = 0
        if self.params.memory_update == "before_fit":
            self.buffer.add_all(self.generator, x=experience.x, y=experience.y)

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            nonlocal steps_done
            optimizer.zero_grad(set_to_none=True)
            memory = None
            if len(self.buffer) > 0:
                memory = self.buffer.sample(self.memory_batch_size, self.generator)
            with autocast(self.device, self.training):
                loss = self.loss(x, y, memory)
            loss.backward()
            optimizer.step()
            if self.params.memory_update == "last_epoch" and steps_done >= last_epoch_from:
                self.buffer.add(self.generator, x=x, y=y)
            steps_done += 1
            return loss.detach()

        report = run_epochs(self.model, experience, self.training, self.generator, step, progress)
        if self.params.memory_update == "after_fit":
            self.buffer.add_all(self.generator, x=experience.x, y=experience.y)
        self.experiences_seen += 1
        report.extra["memory_filled"] = float(len(self.buffer))
        return report

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, memory: dict[str, torch.Tensor] | None
    ) -> torch.Tensor:
        """One mean cross-entropy over the new batch and the memory batch, one forward."""
        if memory is None:
            return F.cross_entropy(self.model(x), y)
        inputs, labels = torch.cat([x, memory["x"]]), torch.cat([y, memory["y"]])
        return F.cross_entropy(self.model(inputs), labels)
