"""Riemannian Walk, RWalk (Chaudhry, Dokania, Ajanthan & Torr, ECCV 2018), optionally with
replay. Equation numbers are the paper's (arXiv:1801.10112), as Avalanche cites them.

Per parameter: the EWC++ Fisher F, running over the whole stream; a path score s, the
first-order loss decrease per Fisher-weighted movement, summed in windows of ``delta_t``
steps and averaged over experiences; and, fixed at each experience's end, the importance
P and anchor θ* of a quadratic penalty. Only the task loss is back-propagated (its
gradient, unpenalised, feeds F and s); the penalty's analytic gradient is then added into
``.grad``, so no second backward is needed and nothing cancels. With ``memory_size`` > 0
the task loss replays a memory as ``er.ER`` does (the paper's RWalk with samples).

F and s come from the gradient of the training step itself, in train mode (BatchNorm on
the batch's statistics): the g of the loss being minimised, as the paper's Eq. 6-7.
Avalanche's plugin instead runs a second forward/backward in eval mode before each step
and leaves the model in eval mode, so BatchNorm layers then train on running statistics;
that is not copied. A state saved with ``memory_size`` 0 restores into an updater with a
memory: F, s, P and θ* stand for the model's past whatever the memory, so they are kept
and the memory starts empty (dropping them would lift the penalty on every past chunk).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.schemas.updaters import RWalkParams, TrainingConfig
from worker.updaters.protocol import (
    Experience,
    FitReport,
    ProgressFn,
    StateMismatch,
    UpdaterState,
)
from worker.updaters.replay_memory import make_memory
from worker.updaters.rng import make_generator, restore_run_state, run_state
from worker.updaters.training_loop import autocast, last_epoch_start, make_optimizer, run_epochs

SCORE_EPSILON = torch.finfo(torch.float32).eps
"""ε of Eq. 7: keeps the score's denominator positive where F·Δθ² vanishes."""


def normalised(values: list[torch.Tensor]) -> list[torch.Tensor]:
    """``values`` divided by their common maximum, or zeros where that maximum is ≤ 0.

    Stays on the device (no host sync) and never divides by zero.
    """
    largest = torch.stack([v.max() for v in values]).max()
    scale = torch.where(largest > 0, 1.0 / largest.clamp_min(torch.finfo(largest.dtype).tiny), 0)
    return [v * scale for v in values]


class RWalk:
    name = "rwalk"

    def __init__(
        self,
        model: nn.Module,
        params: RWalkParams,
        training: TrainingConfig,
        device: torch.device,
    ) -> None:
        self.model, self.params, self.training, self.device = model, params, training, device
        self.generator = make_generator(training.seed, device)
        self.experiences_seen = 0
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.parameters = [p for _, p in named]
        self.fisher = self._zeros()  # F (Eq. 6), never reset: EWC++ runs over the stream
        self.score = self._zeros()  # s, the §4.3 running average over experiences
        self.importance = self._zeros()  # P (Eq. 8), fixed at each experience's end
        self.anchor = [p.detach().clone() for p in self.parameters]  # θ* (Eq. 8)
        self.buffer = (
            make_memory(params.memory_policy, params.memory_size, device)
            if params.memory_size > 0
            else None
        )
        self.memory_batch_size = params.memory_batch_size or training.batch_size

    def _zeros(self) -> list[torch.Tensor]:
        return [torch.zeros_like(p, dtype=torch.float32) for p in self.parameters]

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)
        last_epoch_from = last_epoch_start(len(experience), self.training, self.model)
        alpha, lam = self.params.ewc_alpha, self.params.ewc_lambda
        penalised = self.experiences_seen > 0
        experience_score = self._zeros()  # s_e: Eq. 7 over this experience's windows
        window_loss = self._zeros()  # ΔL of the open window
        window_start = [p.detach().clone() for p in self.parameters]
        steps_in_window = 0
        steps_done = 0
        if self.buffer is not None and self.params.memory_update == "before_fit":
            self.buffer.add_all(self.generator, x=experience.x, y=experience.y)

        def close_window() -> None:
            nonlocal steps_in_window
            with torch.no_grad():
                for s, dl, f, p, start in zip(
                    experience_score,
                    window_loss,
                    self.fisher,
                    self.parameters,
                    window_start,
                    strict=True,
                ):
                    moved = p - start  # Δθ over the window
                    # s_e += ΔL / (½·F·Δθ² + ε)  (Eq. 7)
                    s.add_(dl / (0.5 * f * moved.square() + SCORE_EPSILON))
                    dl.zero_()
                    start.copy_(p)
            steps_in_window = 0

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            nonlocal steps_in_window, steps_done
            inputs, labels = x, y
            if self.buffer is not None and len(self.buffer) > 0:
                memory = self.buffer.sample(self.memory_batch_size, self.generator)
                inputs, labels = torch.cat([x, memory["x"]]), torch.cat([y, memory["y"]])
            before = [p.detach().clone() for p in self.parameters]
            optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.training):
                task_loss = F.cross_entropy(self.model(inputs), labels)
            task_loss.backward()
            with torch.no_grad():
                gradients = [  # g: the unpenalised gradient at θ_before
                    p.grad.detach().float().clone()
                    if p.grad is not None
                    else torch.zeros_like(p, dtype=torch.float32)
                    for p in self.parameters
                ]
                for f, g in zip(self.fisher, gradients, strict=True):
                    f.mul_(1.0 - alpha).addcmul_(g, g, value=alpha)  # F ← α·g² + (1 − α)·F (Eq. 6)
                penalty = torch.zeros((), device=self.device)
                if penalised:
                    for p, importance, anchor in zip(
                        self.parameters, self.importance, self.anchor, strict=True
                    ):
                        away = p - anchor
                        penalty += (importance * away.square()).sum()  # λ·Σ P(θ − θ*)² (Eq. 8)
                        if p.grad is None:
                            p.grad = torch.zeros_like(p)
                        p.grad.add_(importance * away, alpha=2.0 * lam)  # + 2λP(θ − θ*)
                    penalty *= lam
            optimizer.step()
            with torch.no_grad():
                for dl, g, p, b in zip(
                    window_loss, gradients, self.parameters, before, strict=True
                ):
                    dl.sub_(g * (p - b))  # ΔL += −g ⊙ Δθ (first order, Eq. 7's numerator)
            steps_in_window += 1
            if steps_in_window == self.params.delta_t:
                close_window()
            if (
                self.buffer is not None
                and self.params.memory_update == "last_epoch"
                and steps_done >= last_epoch_from
            ):
                self.buffer.add(self.generator, x=x, y=y)
            steps_done += 1
            return task_loss.detach().float() + penalty

        report = run_epochs(self.model, experience, self.training, self.generator, step, progress)
        if steps_in_window > 0:  # a last, shorter window: none of the path is dropped
            close_window()
        self._consolidate(experience_score)
        if self.buffer is not None and self.params.memory_update == "after_fit":
            self.buffer.add_all(self.generator, x=experience.x, y=experience.y)
        self.experiences_seen += 1
        if self.buffer is not None:
            report.extra["memory_filled"] = float(len(self.buffer))
        return report

    @torch.no_grad()
    def _consolidate(self, experience_score: list[torch.Tensor]) -> None:
        """End of an experience: carry s (§4.3), then fix P and θ* for Eq. 8."""
        if self.experiences_seen == 0:
            self.score = experience_score  # s ← s_e
        else:  # s ← ½(s + s_e): older experiences' scores decay by halves
            self.score = [0.5 * (s + e) for s, e in zip(self.score, experience_score, strict=True)]
        fisher_part = normalised(self.fisher)  # F / max F, in [0, 1]
        score_part = normalised([s.clamp_min(0) for s in self.score])  # relu(s) / max relu(s)
        # P = F / max F + relu(s) / max relu(s) (Eq. 8, both terms normalised as suggested)
        self.importance = [f + s for f, s in zip(fisher_part, score_part, strict=True)]
        self.anchor = [p.detach().clone() for p in self.parameters]

    def state_dict(self) -> UpdaterState:
        tensors: dict[str, torch.Tensor] = {}
        for name, f, s, importance, anchor in zip(
            self.names, self.fisher, self.score, self.importance, self.anchor, strict=True
        ):
            tensors[f"fisher.{name}"] = f
            tensors[f"score.{name}"] = s
            tensors[f"importance.{name}"] = importance
            tensors[f"anchor.{name}"] = anchor
        state = run_state(self.generator, self.experiences_seen).merged(
            UpdaterState(tensors=tensors, meta={"parameters": list(self.names)})
        )
        return state if self.buffer is None else state.merged(self.buffer.state_dict())

    def load_state_dict(self, state: UpdaterState) -> None:
        if list(state.meta["parameters"]) != self.names:
            raise StateMismatch("saved RWalk state is for a model with other parameters")
        self.experiences_seen = restore_run_state(state, self.generator)

        def load(kind: str, like_parameters: bool = False) -> list[torch.Tensor]:
            return [
                state.tensors[f"{kind}.{name}"]
                .to(device=self.device, dtype=p.dtype if like_parameters else torch.float32)
                .clone()
                for name, p in zip(self.names, self.parameters, strict=True)
            ]

        self.fisher, self.score = load("fisher"), load("score")
        self.importance, self.anchor = load("importance"), load("anchor", like_parameters=True)
        if self.buffer is not None and "buffer" in state.meta:
            self.buffer.load_state_dict(state)
        # (saved without a memory: the importances stay, the memory starts empty)
