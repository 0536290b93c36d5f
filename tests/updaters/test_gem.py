"""GEM: the dual QP solver against quadprog and its KKT conditions, and GEM in training."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest
import quadprog
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn

from app.schemas.updaters import GEMParams, TrainingConfig, validate_updater
from worker.updaters.gem import GEM, project_gradient
from worker.updaters.gem_qp import RIDGE, solve_gem_dual
from worker.updaters.protocol import Experience

CPU = torch.device("cpu")


def reference_dual(gram: np.ndarray, products: np.ndarray, margin: float) -> np.ndarray:
    """The same dual QP solved by quadprog (min ½xᵀHx − aᵀx s.t. Cᵀx ≥ b)."""
    t = products.shape[0]
    hessian = 0.5 * (gram + gram.T) + RIDGE * np.eye(t)
    return quadprog.solve_qp(hessian, -products, np.eye(t), np.full(t, margin))[0]


def violating_problem(seed: int, t: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Random reference gradients G (t × p) and a gradient g that violates some rows."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(t, p))
    gradient = rng.normal(size=p) - 2.0 * reference[0]  # pushes ⟨g, g_0⟩ below zero
    assert (reference @ gradient < 0).any()
    return reference, gradient


def kkt_gradient(gram: np.ndarray, products: np.ndarray, v: np.ndarray) -> np.ndarray:
    """∇ of the dual objective at v: (G Gᵀ + ρI) v + G g."""
    return (gram + RIDGE * np.eye(len(v))) @ v + products


@pytest.mark.parametrize(
    ("seed", "t", "margin"), [(0, 1, 0.0), (1, 3, 0.5), (2, 8, 0.0), (3, 12, 2.0)]
)
def test_dual_solution_matches_quadprog_and_satisfies_kkt(seed: int, t: int, margin: float) -> None:
    # given
    reference, gradient = violating_problem(seed, t, p=40)
    gram, products = reference @ reference.T, reference @ gradient

    # when
    v = solve_gem_dual(gram, products, margin)

    # then: the same minimiser as an independent solver
    np.testing.assert_allclose(v, reference_dual(gram, products, margin), rtol=1e-7, atol=1e-9)
    # and the KKT conditions: primal feasibility, dual feasibility, complementary slackness
    gradient_of_dual = kkt_gradient(gram, products, v)
    tolerance = 1e-9 * (1 + np.abs(gram).sum() + np.abs(products).sum())
    assert (v >= margin - 1e-12).all()
    assert (gradient_of_dual >= -tolerance).all()
    np.testing.assert_allclose((v - margin) * gradient_of_dual, 0.0, atol=tolerance)


def test_dual_handles_duplicate_and_zero_reference_gradients() -> None:
    # given: a rank-deficient G (two equal rows and a zero row): only the ridge makes it SPD
    reference, gradient = violating_problem(seed=4, t=4, p=30)
    reference[1] = reference[0]
    reference[3] = 0.0
    gram, products = reference @ reference.T, reference @ gradient

    # when
    v = solve_gem_dual(gram, products, margin=0.5)

    # then
    np.testing.assert_allclose(v, reference_dual(gram, products, 0.5), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_single_constraint_matches_closed_form(margin: float) -> None:
    # given: t = 1, where the dual is a scalar problem: v = max(γ, −(g_1·g) / (‖g_1‖² + ρ))
    reference, gradient = violating_problem(seed=5, t=1, p=25)
    gram, products = reference @ reference.T, reference @ gradient

    # when
    v = solve_gem_dual(gram, products, margin)

    # then
    closed_form = max(margin, -products[0] / (gram[0, 0] + RIDGE))
    np.testing.assert_allclose(v, [closed_form], rtol=1e-12)


def test_projected_gradient_satisfies_every_constraint_up_to_the_ridge() -> None:
    # given
    reference_np, gradient_np = violating_problem(seed=6, t=6, p=50)
    reference = torch.from_numpy(reference_np)
    gradient = torch.from_numpy(gradient_np)

    # when
    projected, was_projected = project_gradient(reference, gradient, memory_strength=0.0)

    # then: G g̃ = ∇(dual) − ρ v ≥ −ρ v, i.e. no constraint is violated beyond the ridge term
    v = solve_gem_dual(reference_np @ reference_np.T, reference_np @ gradient_np, 0.0)
    assert was_projected
    dots = (reference @ projected).numpy()
    assert (dots >= -RIDGE * v - 1e-9).all()
    assert (reference_np @ gradient_np).min() < -1.0  # while g itself violated clearly
    np.testing.assert_allclose(projected.numpy(), reference_np.T @ v + gradient_np, rtol=1e-12)


def test_no_projection_without_a_violation() -> None:
    # given: g has a non-negative dot product with every reference gradient
    rng = np.random.default_rng(7)
    reference = torch.from_numpy(rng.normal(size=(4, 20)))
    gradient = reference.sum(0) * 3.0 + torch.from_numpy(rng.normal(size=20)) * 0.01
    assert ((reference @ gradient) >= 0).all()

    # when
    projected, was_projected = project_gradient(reference, gradient, memory_strength=0.5)

    # then
    assert not was_projected
    assert torch.equal(projected, gradient)


# --- GEM in training --------------------------------------------------------------------


ModelFactory = Callable[..., nn.Module]
ExperienceFactory = Callable[..., Experience]


def test_memory_holds_patterns_per_experience_drawn_from_each_experience(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given
    experiences = [make_experience([2 * k, 2 * k + 1], per_class=20, seed=k) for k in range(3)]
    training = TrainingConfig(batch_size=20)
    gem = GEM(make_model(), GEMParams(patterns_per_experience=7), training, CPU)

    # when
    for experience in experiences:
        gem.fit(experience)

    # then
    assert len(gem.memory_x) == len(experiences)
    for mx, my, experience in zip(gem.memory_x, gem.memory_y, experiences, strict=True):
        assert mx.shape[0] == my.shape[0] == 7
        rows = (mx[:, None, :] == experience.x[None, :, :]).all(-1)  # (7, 40) matches
        assert (rows.sum(1) == 1).all()  # each stored pattern is one row of its experience
        assert torch.equal(my, experience.y[rows.float().argmax(1)])  # with its own label
        assert rows.any(0).sum() == 7  # and no row is stored twice


def test_small_experience_is_stored_whole(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given
    experience = make_experience([0, 1], per_class=3, seed=0)
    gem = GEM(make_model(), GEMParams(patterns_per_experience=64), TrainingConfig(), CPU)

    # when
    gem.fit(experience)

    # then
    assert gem.memory_x[0].shape[0] == 6


def reference_gradients_at(
    model: nn.Module, memories: list[tuple[torch.Tensor, torch.Tensor]]
) -> torch.Tensor:
    rows = []
    for mx, my in memories:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(mx), my).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).double())
    return torch.stack(rows)


def test_applied_gradient_respects_every_reference_gradient_after_a_projected_step(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given: two class-incremental experiences learned, then one full-batch step on a third
    training = TrainingConfig(batch_size=32, lr=0.5)
    params = GEMParams(patterns_per_experience=16, memory_strength=0.0, ridge_mode="absolute")
    gem = GEM(make_model(), params, training, CPU)
    gem.fit(make_experience([0, 1], per_class=16, seed=0))
    gem.fit(make_experience([2, 3], per_class=16, seed=1))
    before = copy.deepcopy(gem.model)
    new = make_experience([4, 5], per_class=16, seed=2)

    # when
    report = gem.fit(new)

    # then: that one step was projected...
    assert report.steps == 1 and report.extra["projected_fraction"] == 1.0
    applied = torch.cat([p.grad.reshape(-1) for p in gem.model.parameters()]).double()
    memories = list(zip(gem.memory_x[:2], gem.memory_y[:2], strict=True))
    reference = reference_gradients_at(before, memories)  # recomputed at the step's start
    before.zero_grad(set_to_none=True)
    F.cross_entropy(before(new.x), new.y).backward()
    proposed = torch.cat([p.grad.reshape(-1) for p in before.parameters()]).double()
    assert (reference @ proposed).min() < 0  # ...because g conflicted with a past experience
    # ...and the applied gradient conflicts with none of them (up to the ridge term ρ·v)
    v = solve_gem_dual((reference @ reference.T).numpy(), (reference @ proposed).numpy(), 0.0)
    assert ((reference @ applied).numpy() >= -RIDGE * v - 1e-5).all()
    torch.testing.assert_close(
        applied, reference.T @ torch.from_numpy(v) + proposed, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"patterns_per_experience": 0}, "patterns_per_experience"),
        ({"memory_strength": -0.1}, "memory_strength"),
        ({"memory_strenght": 0.5}, "memory_strenght"),
    ],
)
def test_bad_hyperparameter_is_rejected_naming_the_field(params: dict, field: str) -> None:
    # when
    with pytest.raises(ValidationError) as caught:
        validate_updater({"name": "gem", "params": params})

    # then
    assert caught.value.errors()[0]["loc"] == ("params", field)
