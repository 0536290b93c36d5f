"""Dark Experience Replay, DER and DER++ (Buzzega, Boschini, Porrello, Abati & Calderara,
NeurIPS 2020), shaped as Mammoth's ``models/der.py`` and ``models/derpp.py``.

The memory (class-balanced or a reservoir, ``memory_policy``) keeps each input with its
label and logits. A memory batch replays those logits (MSE) and, for DER++ (beta > 0), a
second, independent one replays labels. Which logits: ``after_fit`` (default) offers the
chunk once it is learned and stores the trained model's eval-mode logits of the samples
it keeps (Avalanche); ``training`` offers each batch in the chunk's last epoch with the
logits of its training forward (Mammoth, the paper). The new and memory batches share
one forward unless the model has BatchNorm layers: then each has its own
(``batch_forward``), so neither the new batch's statistics nor its stored logits depend
on the memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.schemas.updaters import DERParams, TrainingConfig
from worker.updaters.batch_forward import forward_each
from worker.updaters.protocol import Experience, FitReport, ProgressFn
from worker.updaters.replay_updater import ReplayUpdater
from worker.updaters.training_loop import autocast, last_epoch_start, make_optimizer, run_epochs


class DER(ReplayUpdater):
    name = "der"

    def __init__(
        self,
        model: nn.Module,
        params: DERParams,
        training: TrainingConfig,
        device: torch.device,
    ) -> None:
        super().__init__(model, params, training, device)
        self.params = params

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)
        last_epoch_from = last_epoch_start(len(experience), self.training, self.model)
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
                outputs = forward_each(self.model, batches, self.separately)
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
            if self.params.logits == "training" and steps_done >= last_epoch_from:
                logits = outputs[0].detach().float()  # whole head, float32 under autocast
                self.buffer.add(self.generator, x=x, y=y, logits=logits)
            steps_done += 1
            return loss.detach()

        report = run_epochs(self.model, experience, self.training, self.generator, step, progress)
        if self.params.logits == "after_fit":
            self.buffer.add_all(
                self.generator, derive=self._trained_logits, x=experience.x, y=experience.y
            )
        self.experiences_seen += 1
        report.extra["memory_filled"] = float(len(self.buffer))
        return report

    @torch.no_grad()
    def _trained_logits(self, rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """z of the rows the memory admits: the trained model's, in eval mode (BatchNorm on
        its running statistics), float32; the model is left in train mode."""
        self.model.eval()
        try:
            parts = []
            for x in rows["x"].split(self.training.eval_batch_size):
                with autocast(self.device, self.training):
                    parts.append(self.model(x).float())
        finally:
            self.model.train()
        return {"logits": torch.cat(parts)}
