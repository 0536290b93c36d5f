"""Averaged Gradient Episodic Memory, A-GEM (Chaudhry, Ranzato, Rohrbach & Elhoseiny 2019).

Each experience leaves ``patterns_per_experience`` samples in one episodic memory M. Each
step's gradient g is projected only when it would raise the loss on a sample B_M of M: one
averaged constraint instead of GEM's one per experience, hence cheap. The dot products
run over all trainable parameters as one flat vector (projecting each tensor on its own,
as an older Avalanche did, is another update), and the test stays on the device. g and
g_ref are gathered into preallocated flat buffers and g is the optimizer's ``.grad``
(``flat_grads``): the bookkeeping is a fixed number of operations a step.

g_ref comes from a forward of B_M alone in train mode, as in the paper's code and
Avalanche's plugin: a BatchNorm layer normalises B_M with B_M's own statistics, and its
running statistics move with it too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.schemas.updaters import AGEMParams, TrainingConfig
from worker.updaters.flat_grads import FlatGradient, gather_gradient, trainable_parameters
from worker.updaters.protocol import Experience, FitReport, ProgressFn, UpdaterState
from worker.updaters.rng import (
    distinct_indices,
    make_generator,
    restore_run_state,
    run_state,
)
from worker.updaters.training_loop import autocast, make_optimizer, run_epochs


def project_gradient(
    gradient: torch.Tensor, reference: torch.Tensor, out: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The g̃ closest to ``gradient`` g with g̃ᵀg_ref ≥ 0 (A-GEM §4), for ``reference`` g_ref;
    also whether gᵀg_ref < 0, as a 0-d bool tensor kept on the device. ``out`` (which may
    be ``gradient`` itself) receives g̃."""
    dot = torch.dot(gradient, reference)  # gᵀg_ref
    reference_norm = torch.dot(reference, reference)  # g_refᵀg_ref
    violated = dot < 0
    # A violation implies g_ref ≠ 0, so the clamp only guards the unused branch of where.
    scale = torch.where(
        violated, dot / reference_norm.clamp_min(torch.finfo(reference.dtype).tiny), 0.0
    )
    # g̃ = g − (gᵀg_ref / g_refᵀg_ref) g_ref, in one pass (no P-sized temporary)
    return torch.addcmul(gradient, reference, scale, value=-1, out=out), violated


class AGEM:
    name = "agem"

    def __init__(
        self,
        model: nn.Module,
        params: AGEMParams,
        training: TrainingConfig,
        device: torch.device,
    ) -> None:
        self.model, self.params, self.training, self.device = model, params, training, device
        self.generator = make_generator(training.seed, device)
        self.experiences_seen = 0
        self.memory_x: torch.Tensor | None = None  # M = ∪_{k<t} M_k (A-GEM §4)
        self.memory_y: torch.Tensor | None = None
        self.memory_per_experience: list[int] = []

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.training):
            return F.cross_entropy(self.model(x), y)

    def _memory_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """B_M: ``sample_size`` samples of M without replacement (all of M if smaller),
        stratified: each past experience gives an equal share (the first ones one more
        where it does not divide), drawn uniformly within its M_k. The paper samples M
        uniformly; the stratified draw (Avalanche's balanced loader) has the same mean
        composition and a lower-variance g_ref."""
        assert self.memory_x is not None and self.memory_y is not None
        if self.memory_x.shape[0] <= self.params.sample_size:
            return self.memory_x, self.memory_y
        share, spare = divmod(self.params.sample_size, len(self.memory_per_experience))
        picks, start = [], 0
        for k, size in enumerate(self.memory_per_experience):
            count = share + (1 if k < spare else 0)
            picks.append(start + distinct_indices(size, count, self.generator))
            start += size
        index = torch.cat(picks).to(self.memory_x.device)
        return self.memory_x[index], self.memory_y[index]

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)
        parameters = trainable_parameters(self.model)
        projected_steps = torch.zeros((), dtype=torch.int64, device=self.device)
        gradient = FlatGradient(parameters, torch.float32)  # g, read by the optimizer
        gradient.install()
        reference = gradient.layout.zeros(torch.float32)  # g_ref
        reference_views = gradient.layout.views(reference)

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            loss = self._loss(x, y)
            gather_gradient(loss, parameters, gradient.views)
            if self.memory_x is not None:  # g_ref on B_M, then the projection (A-GEM §4)
                gather_gradient(self._loss(*self._memory_batch()), parameters, reference_views)
                _, violated = project_gradient(gradient.flat, reference, gradient.flat)
                projected_steps.add_(violated)
            gradient.publish()
            optimizer.step()
            return loss.detach()

        report = run_epochs(self.model, experience, self.training, self.generator, step, progress)
        self._remember(experience)
        self.experiences_seen += 1
        report.extra["projected_fraction"] = int(projected_steps.item()) / max(report.steps, 1)
        return report

    @torch.no_grad()
    def _remember(self, experience: Experience) -> None:
        """Add M_k: ``patterns_per_experience`` samples drawn without replacement."""
        index = distinct_indices(
            len(experience), self.params.patterns_per_experience, self.generator
        ).to(experience.x.device)
        x, y = experience.x[index].clone(), experience.y[index].clone()
        if self.memory_x is None or self.memory_y is None:
            self.memory_x, self.memory_y = x, y
        else:
            self.memory_x = torch.cat([self.memory_x, x])
            self.memory_y = torch.cat([self.memory_y, y])
        self.memory_per_experience.append(int(index.numel()))

    def state_dict(self) -> UpdaterState:
        tensors: dict[str, torch.Tensor] = {}
        if self.memory_x is not None and self.memory_y is not None:
            tensors["memory.x"], tensors["memory.y"] = self.memory_x, self.memory_y
        memory = UpdaterState(
            tensors=tensors, meta={"memory_per_experience": list(self.memory_per_experience)}
        )
        return run_state(self.generator, self.experiences_seen).merged(memory)

    def load_state_dict(self, state: UpdaterState) -> None:
        self.experiences_seen = restore_run_state(state, self.generator)
        self.memory_per_experience = [int(n) for n in state.meta["memory_per_experience"]]
        if "memory.x" in state.tensors:
            self.memory_x = state.tensors["memory.x"].to(self.device)
            self.memory_y = state.tensors["memory.y"].to(self.device)
        else:
            self.memory_x = self.memory_y = None
