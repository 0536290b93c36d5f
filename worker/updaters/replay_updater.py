"""What the replay methods (ER, ER-ACE, DER/DER++) share: a seeded generator, a replay
memory of the chosen policy, and the state of both. Each method adds its own ``fit``."""

from __future__ import annotations

import torch
from torch import nn

from app.schemas.updaters import ReplayParams, TrainingConfig
from worker.updaters.batch_forward import has_batch_coupled_layers
from worker.updaters.protocol import UpdaterState
from worker.updaters.replay_memory import make_memory
from worker.updaters.rng import make_generator, restore_run_state, run_state


class ReplayUpdater:
    def __init__(
        self,
        model: nn.Module,
        params: ReplayParams,
        training: TrainingConfig,
        device: torch.device,
    ) -> None:
        self.model, self.training, self.device = model, training, device
        self.generator = make_generator(training.seed, device)
        self.buffer = make_memory(params.memory_policy, params.memory_size, device)
        self.memory_batch_size = params.memory_batch_size or training.batch_size
        # BatchNorm couples the samples of a batch: give new and memory batches their own
        # forward (``batch_forward``) where a method asks for it.
        self.separately = has_batch_coupled_layers(model)
        self.experiences_seen = 0

    def state_dict(self) -> UpdaterState:
        return run_state(self.generator, self.experiences_seen).merged(self.buffer.state_dict())

    def load_state_dict(self, state: UpdaterState) -> None:
        self.experiences_seen = restore_run_state(state, self.generator)
        self.buffer.load_state_dict(state)
