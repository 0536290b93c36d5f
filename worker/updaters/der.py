"""Dark Experience Replay, DER and DER++ (Buzzega, Boschini, Porrello, Abati & Calderara,
NeurIPS 2020), shaped as Mammoth's ``models/der.py`` and ``models/derpp.py``.

The reservoir memory keeps, with each input, its label and the logits the network gave it
in the *training* forward pass of the step that offered it (over the whole head, float32
even under autocast): the "dark knowledge" sampled along the optimisation trajectory. Each
step minimises (Eq. 6; Eq. 4 is the case beta = 0)

    CE(f(x), y) + alpha·MSE(f(x'), z') + beta·CE(f(x''), y'')

with (x, y) the new batch, (x', z') a memory batch and, for DER++ only (beta > 0), (x'', y'')
a second memory batch drawn independently of the first. With beta = 0 that second batch is
not drawn at all. MSE is ``F.mse_loss``, the mean over the batch *and* the logits, as in
Mammoth (the paper writes a squared norm; its alpha values were tuned with Mammoth's mean).

The three batches go through the network in one forward pass (Mammoth makes one per
batch): the same loss for models without batch-coupled layers, and one launch on the GPU.
As in ER, each new sample is offered to the reservoir once, in the last epoch over its
chunk (``training_loop.in_last_epoch``; Mammoth offers it again every epoch). So with
several epochs per chunk the stored logits are those of a network that has learned the
chunk — still the training forward pass at insertion, as the paper asks. On the
Split-MNIST-1D benchmark (5 epochs, memory 500) storing them in the first epoch instead
gave DER 0.35 / DER++ 0.51 average accuracy; the last epoch gives the figures in
BENCHMARKS.md.
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
                loss = F.cross_entropy(outputs[0], y)  # Eq. 6, new data
                if logit_memory is not None:
                    # Eq. 4 / Eq. 6, alpha-term: match the stored logits
                    loss = loss + alpha * F.mse_loss(outputs[1].float(), logit_memory["logits"])
                if label_memory is not None:
                    # Eq. 6, beta-term (DER++): replayed labels
                    loss = loss + beta * F.cross_entropy(outputs[2], label_memory["y"])
            loss.backward()
            optimizer.step()
            if in_last_epoch(steps_done, len(experience), self.training):
                logits = outputs[0].detach().float()
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
