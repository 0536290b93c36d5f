"""Gradient Episodic Memory, GEM (Lopez-Paz & Ranzato 2017).

Each experience leaves ``patterns_per_experience`` samples as its episodic memory M_k. A
step whose gradient g conflicts with some memory's gradient g_k is replaced by the closest
gradient that conflicts with none, from GEM's dual QP (``gem_qp``). The cost is the paper's:
t + 1 backward passes per step with t past experiences, and t·P float64 numbers for G; the
one host sync per step is the conflict check.

Each g_k comes from a forward of M_k alone in train mode, as in the authors' code and
Avalanche's plugin: a BatchNorm layer normalises M_k with M_k's own statistics, and its
running statistics move with every memory forward too (after the new batch's, where
Avalanche's come before; the gradients are the same either way).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.schemas.updaters import GEMParams, TrainingConfig
from worker.updaters.gem_qp import solve_gem_dual
from worker.updaters.gradient_vector import flat_gradient, trainable_parameters, write_gradient
from worker.updaters.protocol import Experience, FitReport, ProgressFn, UpdaterState
from worker.updaters.rng import (
    distinct_indices,
    make_generator,
    restore_run_state,
    run_state,
)
from worker.updaters.training_loop import autocast, make_optimizer, run_epochs


def project_gradient(
    reference_gradients: torch.Tensor, gradient: torch.Tensor, memory_strength: float
) -> tuple[torch.Tensor, bool]:
    """GEM's projection of ``gradient`` g (P,) against ``reference_gradients`` G (t × P):
    (g̃, True), or (g, False) when no constraint is violated."""
    products = reference_gradients @ gradient  # ⟨g, g_k⟩ for every k (GEM Eq. 4)
    products_host = products.double().cpu().numpy()  # the step's one host sync
    if not (products_host < 0).any():
        return gradient, False
    gram = (reference_gradients @ reference_gradients.T).double().cpu().numpy()
    v = solve_gem_dual(gram, products_host, memory_strength)  # GEM Eq. 9 (dual QP)
    v_device = torch.from_numpy(v).to(device=gradient.device, dtype=reference_gradients.dtype)
    return reference_gradients.T @ v_device + gradient, True  # g̃ = Gᵀv* + g (GEM, below Eq. 9)


class GEM:
    name = "gem"

    def __init__(
        self,
        model: nn.Module,
        params: GEMParams,
        training: TrainingConfig,
        device: torch.device,
    ) -> None:
        self.model, self.params, self.training, self.device = model, params, training, device
        self.generator = make_generator(training.seed, device)
        self.experiences_seen = 0
        self.memory_x: list[torch.Tensor] = []  # one entry per past experience: M_k
        self.memory_y: list[torch.Tensor] = []

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.training):
            return F.cross_entropy(self.model(x), y)

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)
        parameters = trainable_parameters(self.model)
        projected_steps = 0

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            nonlocal projected_steps
            optimizer.zero_grad(set_to_none=True)
            loss = self._loss(x, y)
            gradient = flat_gradient(loss, parameters, torch.float64)  # float64 for the QP
            if self.memory_x:
                reference = torch.stack(
                    [
                        flat_gradient(self._loss(mx, my), parameters, torch.float64)
                        for mx, my in zip(self.memory_x, self.memory_y, strict=True)
                    ]
                )  # G, GEM Eq. 2 per row
                gradient, projected = project_gradient(
                    reference, gradient, self.params.memory_strength
                )
                projected_steps += int(projected)
            write_gradient(parameters, gradient)
            optimizer.step()
            return loss.detach()

        report = run_epochs(self.model, experience, self.training, self.generator, step, progress)
        self._remember(experience)
        self.experiences_seen += 1
        report.extra["projected_fraction"] = projected_steps / max(report.steps, 1)
        return report

    @torch.no_grad()
    def _remember(self, experience: Experience) -> None:
        """Store M_k: ``patterns_per_experience`` samples drawn without replacement."""
        index = distinct_indices(
            len(experience), self.params.patterns_per_experience, self.generator
        ).to(experience.x.device)
        self.memory_x.append(experience.x[index].clone())
        self.memory_y.append(experience.y[index].clone())

    def state_dict(self) -> UpdaterState:
        tensors: dict[str, torch.Tensor] = {}
        for k, (mx, my) in enumerate(zip(self.memory_x, self.memory_y, strict=True)):
            tensors[f"memory.{k}.x"] = mx
            tensors[f"memory.{k}.y"] = my
        memory = UpdaterState(tensors=tensors, meta={"memory_experiences": len(self.memory_x)})
        return run_state(self.generator, self.experiences_seen).merged(memory)

    def load_state_dict(self, state: UpdaterState) -> None:
        self.experiences_seen = restore_run_state(state, self.generator)
        count = int(state.meta["memory_experiences"])
        self.memory_x = [state.tensors[f"memory.{k}.x"].to(self.device) for k in range(count)]
        self.memory_y = [state.tensors[f"memory.{k}.y"].to(self.device) for k in range(count)]
