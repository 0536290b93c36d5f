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
from worker.updaters.flat_grads import FlatLayout, gather
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
    """F, s, P and θ* are flat vectors over all trainable parameters (``flat_grads``), so
    a step's bookkeeping is a fixed number of operations whatever the model's tensor
    count; ``fisher``, ``score``, ``importance`` and ``anchor`` give per-parameter views."""

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
        self.layout = FlatLayout(self.parameters)
        self._fisher = self._zeros()  # F (Eq. 6), never reset: EWC++ runs over the stream
        self._score = self._zeros()  # s, the §4.3 running average over experiences
        self._importance = self._zeros()  # P (Eq. 8), fixed at each experience's end
        self._anchor = self._flat_parameters()  # θ* (Eq. 8)
        self.buffer = (
            make_memory(params.memory_policy, params.memory_size, device)
            if params.memory_size > 0
            else None
        )
        self.memory_batch_size = params.memory_batch_size or training.batch_size

    def _zeros(self) -> torch.Tensor:
        return self.layout.zeros(torch.float32)

    @torch.no_grad()
    def _flat_parameters(self) -> torch.Tensor:
        """θ as one flat vector."""
        flat = self.layout.zeros()
        gather(self.layout.views(flat), self.parameters)
        return flat

    @property
    def fisher(self) -> list[torch.Tensor]:
        return self.layout.views(self._fisher)

    @property
    def score(self) -> list[torch.Tensor]:
        return self.layout.views(self._score)

    @property
    def importance(self) -> list[torch.Tensor]:
        return self.layout.views(self._importance)

    @property
    def anchor(self) -> list[torch.Tensor]:
        return self.layout.views(self._anchor)

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)
        last_epoch_from = last_epoch_start(len(experience), self.training, self.model)
        alpha, lam = self.params.ewc_alpha, self.params.ewc_lambda
        penalised = self.experiences_seen > 0
        experience_score = self._zeros()  # s_e: Eq. 7 over this experience's windows
        window_loss = self._zeros()  # ΔL of the open window
        gradient = self._zeros()  # g: the unpenalised gradient at θ_before
        gradient_views = self.layout.views(gradient)
        scratch = self._zeros()  # √P ⊙ (θ − θ*) in a step, ½·F·Δθ² + ε at a window's end
        scratch_views = self.layout.views(scratch)
        with torch.no_grad():  # √P and −√P ⊙ θ*, fixed for the experience: the penalty
            root = self._importance.sqrt()  # and its gradient then take one pass each
            shift = root * self._anchor.neg()
        root_views = self.layout.views(root)
        before, after = self.layout.zeros(), self.layout.zeros()  # θ around a step
        views = {id(before): self.layout.views(before), id(after): self.layout.views(after)}
        with torch.no_grad():
            gather(views[id(after)], self.parameters)
        window_start = after.clone()
        steps_in_window = 0
        steps_done = 0
        if self.buffer is not None and self.params.memory_update == "before_fit":
            self.buffer.add_all(self.generator, x=experience.x, y=experience.y)

        @torch.no_grad()
        def close_window() -> None:
            nonlocal steps_in_window
            torch.sub(after, window_start, out=scratch)  # Δθ over the window
            scratch.square_().mul_(self._fisher).mul_(0.5).add_(SCORE_EPSILON)
            experience_score.addcdiv_(window_loss, scratch)  # s_e += ΔL / (½·F·Δθ² + ε) (Eq. 7)
            window_loss.zero_()
            window_start.copy_(after)
            steps_in_window = 0

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            nonlocal steps_in_window, steps_done, before, after
            before, after = after, before  # θ_before: where the last step ended
            inputs, labels = x, y
            if self.buffer is not None and len(self.buffer) > 0:
                memory = self.buffer.sample(self.memory_batch_size, self.generator)
                inputs, labels = torch.cat([x, memory["x"]]), torch.cat([y, memory["y"]])
            optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.training):
                task_loss = F.cross_entropy(self.model(inputs), labels)
            task_loss.backward()
            with torch.no_grad():
                grads = [p.grad for p in self.parameters]
                gather(gradient_views, grads)
                # F ← α·g² + (1 − α)·F (Eq. 6)
                self._fisher.mul_(1.0 - alpha).addcmul_(gradient, gradient, value=alpha)
                penalty = torch.zeros((), device=self.device)
                if penalised:
                    torch.addcmul(shift, root, before, out=scratch)  # √P ⊙ (θ − θ*)
                    penalty = lam * torch.dot(scratch, scratch)  # λ·Σ P(θ − θ*)² (Eq. 8)
                    applied: list[torch.Tensor] = []
                    for p in self.parameters:
                        if p.grad is None:
                            p.grad = torch.zeros_like(p)
                        applied.append(p.grad)
                    # + 2λP(θ − θ*), the penalty's gradient
                    torch._foreach_addcmul_(applied, root_views, scratch_views, value=2.0 * lam)
            optimizer.step()
            with torch.no_grad():
                gather(views[id(after)], self.parameters)
                torch.sub(before, after, out=before)  # −Δθ (θ_before is not needed again)
                window_loss.addcmul_(gradient, before)  # ΔL += −g ⊙ Δθ (Eq. 7's numerator)
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
        self._consolidate(experience_score, after)
        if self.buffer is not None and self.params.memory_update == "after_fit":
            self.buffer.add_all(self.generator, x=experience.x, y=experience.y)
        self.experiences_seen += 1
        if self.buffer is not None:
            report.extra["memory_filled"] = float(len(self.buffer))
        return report

    @torch.no_grad()
    def _consolidate(self, experience_score: torch.Tensor, parameters: torch.Tensor) -> None:
        """End of an experience: carry s (§4.3), then fix P and θ* for Eq. 8."""
        if self.experiences_seen == 0:
            self._score = experience_score  # s ← s_e
        else:  # s ← ½(s + s_e): older experiences' scores decay by halves
            self._score = 0.5 * (self._score + experience_score)
        (fisher_part,) = normalised([self._fisher])  # F / max F, in [0, 1]
        (score_part,) = normalised([self._score.clamp_min(0)])  # relu(s) / max relu(s)
        # P = F / max F + relu(s) / max relu(s) (Eq. 8, both terms normalised as suggested)
        self._importance = fisher_part + score_part
        self._anchor = parameters.clone()

    def state_dict(self) -> UpdaterState:
        tensors: dict[str, torch.Tensor] = {}
        for name, p, f, s, importance, anchor in zip(
            self.names,
            self.parameters,
            self.fisher,
            self.score,
            self.importance,
            self.anchor,
            strict=True,
        ):  # one tensor each (safetensors refuses views that share a buffer)
            tensors[f"fisher.{name}"] = f.clone()
            tensors[f"score.{name}"] = s.clone()
            tensors[f"importance.{name}"] = importance.clone()
            tensors[f"anchor.{name}"] = anchor.to(dtype=p.dtype, copy=True)
        state = run_state(self.generator, self.experiences_seen).merged(
            UpdaterState(tensors=tensors, meta={"parameters": list(self.names)})
        )
        return state if self.buffer is None else state.merged(self.buffer.state_dict())

    def load_state_dict(self, state: UpdaterState) -> None:
        if list(state.meta["parameters"]) != self.names:
            raise StateMismatch("saved RWalk state is for a model with other parameters")
        self.experiences_seen = restore_run_state(state, self.generator)

        def load(kind: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            flat = self.layout.zeros(dtype)
            for name, view in zip(self.names, self.layout.views(flat), strict=True):
                view.copy_(state.tensors[f"{kind}.{name}"])
            return flat

        self._fisher, self._score = load("fisher"), load("score")
        self._importance, self._anchor = load("importance"), load("anchor", self.layout.dtype)
        if self.buffer is not None and "buffer" in state.meta:
            self.buffer.load_state_dict(state)
        # (saved without a memory: the importances stay, the memory starts empty)
