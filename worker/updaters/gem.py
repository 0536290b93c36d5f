"""Gradient Episodic Memory, GEM (Lopez-Paz & Ranzato 2017).

Each experience leaves ``patterns_per_experience`` samples as its episodic memory M_k. A
step whose gradient g conflicts with some memory's gradient g_k is replaced by the closest
gradient that conflicts with none, from GEM's dual QP. The cost is the paper's: t + 1
backward passes per step with t past experiences, and t·P numbers for G.

Each g_k is gathered straight into its row of a preallocated float32 G (grown by doubling
as experiences arrive), g into a flat buffer the optimizer reads as ``.grad``
(``flat_grads``); G Gᵀ and G g are float64 sums of float32 partials over column blocks.
For up to ``gem_qp_device.MAX_ENUMERATED`` experiences the violation test and the dual
stay on the device (``gem_qp_device``): a step has no host round trip, and a step without
a violation applies g unchanged (v = 0). Beyond, the host's active-set method
(``gem_qp``) solves the dual, after one blocking copy of G Gᵀ and G g.

The ridge of the dual is relative by default: ρ_k = ``ridge``·‖g_k‖² (at least a tiny
fraction of the largest), so a projected step keeps at most ridge/(1 + ridge) of any
violation whatever the gradients' scale; ``ridge_mode`` absolute gives the authors' (and
Avalanche's) ρ = 1e-3, which leaves half a violation when ‖g_k‖² ≈ 1e-3.

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
from worker.updaters.flat_grads import FlatGradient, gather_gradient, trainable_parameters
from worker.updaters.gem_qp import RIDGE, solve_gem_dual
from worker.updaters.gem_qp_device import enumerable, solve_gem_dual_on_device
from worker.updaters.protocol import Experience, FitReport, ProgressFn, UpdaterState
from worker.updaters.rng import (
    distinct_indices,
    make_generator,
    restore_run_state,
    run_state,
)
from worker.updaters.training_loop import autocast, make_optimizer, run_epochs

GRAM_BLOCK = 1024
"""Columns per partial sum of ``gram_and_products``: summed in float32 within a block,
in float64 across blocks."""


def blockwise_products(rows: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """rows · othersᵀ (r × s) in float64 for float32 (or narrower) rows (r × P) and others
    (s × P): one batched matmul of float32 partial sums over blocks of ``GRAM_BLOCK``
    columns, then one float64 sum of the partials. The error is that of a 1024-term
    float32 dot, far below a float32 sum over all P, and no float64 copy of G is made."""
    p = rows.shape[1]
    n = p // GRAM_BLOCK
    head_rows = rows[:, : n * GRAM_BLOCK].reshape(rows.shape[0], n, GRAM_BLOCK)
    head_others = others[:, : n * GRAM_BLOCK].reshape(others.shape[0], n, GRAM_BLOCK)
    partials = torch.bmm(head_rows.transpose(0, 1), head_others.permute(1, 2, 0))
    total = partials.sum(0, dtype=torch.float64)
    tail_rows, tail_others = rows[:, n * GRAM_BLOCK :], others[:, n * GRAM_BLOCK :]
    return total.addmm_(tail_rows.double(), tail_others.double().T)


def gram_and_products(
    reference_gradients: torch.Tensor, gradient: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """G Gᵀ (t × t) and G g (t,) in float64, from G and g of any float dtype."""
    if reference_gradients.dtype == torch.float64:
        return reference_gradients @ reference_gradients.T, reference_gradients @ gradient
    gram = blockwise_products(reference_gradients, reference_gradients)
    products = blockwise_products(reference_gradients, gradient[None]).squeeze(1)
    return gram, products


def ridge_diagonal(gram: torch.Tensor, ridge: float, relative: bool) -> torch.Tensor:
    """The diagonal ridge D of the dual: ``ridge``·‖g_k‖² (at least ``ridge`` times the
    smallest normal float, so a zero g_k keeps the Hessian positive definite) or
    ``ridge`` for every k."""
    diagonal = gram.diagonal()
    if not relative:
        return torch.full_like(diagonal, ridge)
    return diagonal.clamp_min(torch.finfo(gram.dtype).tiny) * ridge


def project_gradient(
    reference_gradients: torch.Tensor,
    gradient: torch.Tensor,
    memory_strength: float,
    ridge: float = RIDGE,
    relative: bool = False,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GEM's projection of ``gradient`` g (P,) against ``reference_gradients`` G (t × P):
    g̃ = Gᵀv* + g (GEM, below Eq. 9), or g itself when no ⟨g, g_k⟩ < 0 (GEM Eq. 4); and
    whether a constraint was violated, as a 0-d bool tensor. The default ridge is the
    authors' absolute 1e-3. ``out`` (which may be ``gradient`` itself) receives g̃."""
    gram, products = gram_and_products(reference_gradients, gradient)
    diagonal = ridge_diagonal(gram, ridge, relative)
    violated = (products < 0).any()
    if enumerable(products.shape[0], products.device):
        v = solve_gem_dual_on_device(gram, products, memory_strength, diagonal)
        v = v * violated  # no violation: g̃ = Gᵀ0 + g = g
    elif bool(violated):  # the one host sync of the step
        host = solve_gem_dual(
            gram.cpu().numpy(), products.cpu().numpy(), memory_strength, diagonal.cpu().numpy()
        )
        v = torch.from_numpy(host).to(products.device)
    else:
        v = torch.zeros_like(products)
    weights = v.to(reference_gradients.dtype)
    return torch.addmv(gradient, reference_gradients.T, weights, out=out), violated


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
        self._rows: torch.Tensor | None = None  # G's storage: capacity × P, not saved

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.training):
            return F.cross_entropy(self.model(x), y)

    def _reference_rows(self, t: int, numel: int, dtype: torch.dtype) -> torch.Tensor:
        """G (t × P): the first t rows of a buffer whose capacity doubles when outgrown
        (the old one freed first: rows are recomputed every step, none is copied)."""
        if t == 0:
            return torch.empty(0, numel, dtype=dtype, device=self.device)
        rows = self._rows
        if rows is None or rows.shape[0] < t or rows.shape[1] != numel or rows.dtype != dtype:
            capacity = max(
                t, 1, 2 * rows.shape[0] if rows is not None and rows.shape[1] == numel else 0
            )
            self._rows = None
            rows = self._rows = torch.empty(capacity, numel, dtype=dtype, device=self.device)
        return rows[:t]

    def fit(self, experience: Experience, progress: ProgressFn | None = None) -> FitReport:
        optimizer = make_optimizer(self.model, self.training)
        parameters = trainable_parameters(self.model)
        projected_steps = torch.zeros((), dtype=torch.int64, device=self.device)
        dtype = torch.promote_types(torch.float32, parameters[0].dtype)
        gradient = FlatGradient(parameters, dtype)  # g, read by the optimizer as .grad
        gradient.install()
        memories = list(zip(self.memory_x, self.memory_y, strict=True))
        reference = self._reference_rows(len(memories), gradient.layout.numel, dtype)
        reference_views = [gradient.layout.views(row) for row in reference]  # G, Eq. 2 per row
        strength, ridge = self.params.memory_strength, self.params.ridge
        relative = self.params.ridge_mode == "relative"

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            loss = self._loss(x, y)
            gather_gradient(loss, parameters, gradient.views)
            if memories:
                for (mx, my), views in zip(memories, reference_views, strict=True):
                    gather_gradient(self._loss(mx, my), parameters, views)
                _, projected = project_gradient(
                    reference, gradient.flat, strength, ridge, relative, gradient.flat
                )
                projected_steps.add_(projected)
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
