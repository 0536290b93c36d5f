"""Dark Experience Replay, DER and DER++ (Buzzega, Boschini, Porrello, Abati & Calderara,
NeurIPS 2020), shaped as Mammoth's ``models/der.py`` and ``models/derpp.py``.

A reservoir memory keeps each input with its label and the logits of the training forward
pass that offered it. A memory batch replays those logits (MSE) and, for DER++ (beta > 0),
a second, independent one replays labels. The three batches share one forward pass (the
same loss as three for models without batch-coupled layers). Samples enter the memory in
the chunk's last epoch, so the stored logits are those of a network that has learned the
chunk (``training_loop.in_last_epoch``; what the choice costs is in BENCHMARKS.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.schemas.updaters import DERParams, TrainingConfig
from worker.updaters.protocol import Experience, FitReport, ProgressFn, UpdaterState
from worker.updaters.reservoir import ReservoirBuffer
from worker.updaters.rng import make_generator, restore_run_state, run_state
from worker.updaters.training_loop import autocast, in_last_epoch, make_optimizer, run_epochs


class DER:
    name = "der"

    def __init__(
        self,
        model: nn.Module,
        params: DERParams,
        training: TrainingConfig,
        device: torch.device,
    ) -> None:
        self.model, self.params, self.training, self.device = model, params, training, device
        self.generator = make_generator(training.seed, device)
        self.buffer = ReservoirBuffer(params.memory_size, device)
        self.memory_batch_size = params.memory_batch_size or training.batch_size
        self.experiences_seen = 0

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)
        steps_done = 0
        alpha, beta = self.params.alpha, self.params.beta

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            nonlocal steps_done
            optimizer.zero_grad(set_to_none=True)
            batches = [x]
            logit_memory = label_memory = None
            if len(self.buffer) > 0:
                logit_memory = self.buffer.sample(self.memory_batch_size, self.generator)
                batches.append(logit_memory["x"])
                if beta > 0:  # DER++: a second, independent draw
                    label_memory = self.buffer.sample(self.memory_batch_size, self.generator)
                    batches.append(label_memory["x"])
            with autocast(self.device, self.training):
                outputs = self.model(torch.cat(batches)).split([b.shape[0] for b in batches])
                # Eq. 6: CE(f(x), y) + α·MSE(f(x'), z') + β·CE(f(x''), y''); Eq. 4 is β = 0
                loss = F.cross_entropy(outputs[0], y)
                if logit_memory is not None:
                    # α-term: match the stored logits. MSE is a mean over batch *and* logits,
                    # as in Mammoth (the paper writes a squared norm; α was tuned on the mean).
                    loss = loss + alpha * F.mse_loss(outputs[1].float(), logit_memory["logits"])
                if label_memory is not None:
                    # β-term (DER++): replayed labels
                    loss = loss + beta * F.cross_entropy(outputs[2], label_memory["y"])
            loss.backward()
            optimizer.step()
            if in_last_epoch(steps_done, len(experience), self.training):
                logits = outputs[0].detach().float()  # whole head, float32 under autocast
                self.buffer.add(self.generator, x=x, y=y, logits=logits)
            steps_done += 1
            return loss.detach()

        report = run_epochs(self.model, experience, self.training, self.generator, step, progress)
        self.experiences_seen += 1
        report.extra["memory_filled"] = float(len(self.buffer))
        return report

    def state_dict(self) -> UpdaterState:
        return run_state(self.generator, self.experiences_seen).merged(self.buffer.state_dict())

    def load_state_dict(self, state: UpdaterState) -> None:
        self.experiences_seen = restore_run_state(state, self.generator)
        self.buffer.load_state_dict(state)
