"""GEM on the device: the enumerated dual solver against quadprog and the host's
active-set method, the relative ridge, G Gᵀ and G g in float64 from a float32 G, and the
preallocated G that grows by doubling."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import quadprog
import torch
from pydantic import ValidationError

from app.schemas.updaters import GEMParams, TrainingConfig, validate_updater
from worker.updaters import gem as gem_module
from worker.updaters.gem import GEM, gram_and_products, project_gradient, ridge_diagonal
from worker.updaters.gem_qp import solve_gem_dual
from worker.updaters.gem_qp_device import DEFAULT_MAX_ENUMERATED, solve_gem_dual_on_device
from worker.updaters.protocol import Experience

CPU = torch.device("cpu")
ExperienceFactory = Callable[..., Experience]


def problem(seed: int, t: int, p: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Reference gradients G (t × p) and a g that violates at least the first row."""
    rng = np.random.default_rng(seed)
    reference = scale * rng.normal(size=(t, p))
    gradient = scale * rng.normal(size=p) - 2.0 * reference[0]
    assert (reference @ gradient < 0).any()
    return reference, gradient


def quadprog_dual(
    gram: np.ndarray, products: np.ndarray, margin: float, ridge: np.ndarray
) -> np.ndarray:
    t = products.shape[0]
    hessian = 0.5 * (gram + gram.T) + np.diag(ridge)
    return quadprog.solve_qp(hessian, -products, np.eye(t), np.full(t, margin))[0]


def on_device(
    gram: np.ndarray, products: np.ndarray, margin: float, ridge: np.ndarray
) -> np.ndarray:
    return solve_gem_dual_on_device(
        torch.from_numpy(gram), torch.from_numpy(products), margin, torch.from_numpy(ridge)
    ).numpy()


@pytest.mark.parametrize("t", range(1, DEFAULT_MAX_ENUMERATED + 1))
@pytest.mark.parametrize("margin", [0.0, 0.5])
@pytest.mark.parametrize("relative", [False, True])
def test_device_dual_matches_quadprog_and_the_host_solver(
    t: int, margin: float, relative: bool
) -> None:
    # given
    reference, gradient = problem(seed=10 * t, t=t, p=60)
    gram, products = reference @ reference.T, reference @ gradient
    ridge = ridge_diagonal(torch.from_numpy(gram), 1e-3, relative).numpy()

    # when
    v = on_device(gram, products, margin, ridge)

    # then
    np.testing.assert_allclose(
        v, quadprog_dual(gram, products, margin, ridge), rtol=1e-7, atol=1e-9
    )
    np.testing.assert_allclose(
        v, solve_gem_dual(gram, products, margin, ridge), rtol=1e-9, atol=1e-12
    )


def test_device_dual_handles_duplicate_and_zero_reference_gradients() -> None:
    # given: two equal rows and a zero row: only the ridge makes the Hessian definite
    reference, gradient = problem(seed=4, t=5, p=30)
    reference[1] = reference[0]
    reference[3] = 0.0
    gram, products = reference @ reference.T, reference @ gradient
    ridge = ridge_diagonal(torch.from_numpy(gram), 1e-3, relative=True).numpy()

    # when
    v = on_device(gram, products, 0.5, ridge)

    # then
    assert np.isfinite(v).all()
    np.testing.assert_allclose(v, solve_gem_dual(gram, products, 0.5, ridge), rtol=1e-7, atol=1e-9)


def test_beyond_the_enumerated_size_the_host_solver_gives_the_same_projection() -> None:
    # given: more experiences than the CPU enumerates
    t = DEFAULT_MAX_ENUMERATED + 1
    reference, gradient = problem(seed=3, t=t, p=80)
    reference_t, gradient_t = torch.from_numpy(reference), torch.from_numpy(gradient)

    # when
    projected, violated = project_gradient(reference_t, gradient_t, 0.5, 1e-3, relative=True)

    # then
    gram, products = gram_and_products(reference_t, gradient_t)
    ridge = ridge_diagonal(gram, 1e-3, relative=True)
    v = solve_gem_dual_on_device(gram, products, 0.5, ridge)
    assert bool(violated)
    torch.testing.assert_close(projected, reference_t.T @ v + gradient_t, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 0.03])
def test_relative_ridge_leaves_at_most_its_share_of_a_violation_at_any_scale(
    scale: float,
) -> None:
    # given: one past experience; at scale 0.03, ‖g_1‖² is about 0.05 (p = 60)
    reference, gradient = problem(seed=8, t=1, p=60, scale=scale)
    reference_t, gradient_t = torch.from_numpy(reference), torch.from_numpy(gradient)
    violation = float(reference_t[0] @ gradient_t)

    # when
    relative, _ = project_gradient(reference_t, gradient_t, 0.0, 1e-3, relative=True)
    absolute, _ = project_gradient(reference_t, gradient_t, 0.0, 1e-3, relative=False)

    # then: ⟨g̃, g_1⟩ = violation·ρ/(‖g_1‖² + ρ): 1e-3/(1 + 1e-3) of it with the relative ρ
    left_relative = float(reference_t[0] @ relative) / violation
    left_absolute = float(reference_t[0] @ absolute) / violation
    assert left_relative == pytest.approx(1e-3 / (1 + 1e-3), rel=1e-6)
    norm = float(reference_t[0] @ reference_t[0])
    assert left_absolute == pytest.approx(1e-3 / (norm + 1e-3), rel=1e-6)


def test_gram_and_products_are_float64_sums_of_blockwise_partials_over_every_column() -> None:
    # given: a float32 G of many column blocks and a ragged tail, with a large common
    # offset so that a float32 sum over all columns loses digits
    generator = torch.Generator().manual_seed(0)
    columns = 300 * gem_module.GRAM_BLOCK + 5
    reference = torch.randn(3, columns, generator=generator) + 3.0
    gradient = torch.randn(columns, generator=generator) + 3.0

    # when
    gram, products = gram_and_products(reference, gradient)

    # then: float64, every column counted (the tail too), and closer to the float64 sums
    # than a float32 matmul over all columns
    assert gram.dtype == products.dtype == torch.float64
    wide = reference.double()
    exact_gram, exact_products = wide @ wide.T, wide @ gradient.double()
    torch.testing.assert_close(gram, exact_gram, rtol=1e-8, atol=0)
    torch.testing.assert_close(products, exact_products, rtol=1e-8, atol=0)
    single = (reference @ reference.T).double()
    assert (gram - exact_gram).abs().max() < (single - exact_gram).abs().max()
    tailless, _ = gram_and_products(reference[:, :-5], gradient[:-5])
    assert not torch.allclose(tailless, gram, rtol=1e-8, atol=0)


def test_reference_gradients_live_in_one_float32_buffer_that_doubles_when_outgrown(
    make_model: Callable[..., torch.nn.Module], make_experience: ExperienceFactory
) -> None:
    # given
    gem = GEM(make_model(), GEMParams(patterns_per_experience=4), TrainingConfig(), CPU)
    capacities, pointers = [], []

    # when: five experiences, so 0, 1, 2, 3, 4 past ones during the fits
    for k in range(5):
        gem.fit(make_experience([k % 6], per_class=8, seed=k))
        if gem._rows is not None:
            capacities.append(gem._rows.shape[0])
            pointers.append(gem._rows.data_ptr())

    # then: capacities 1, 2, 4, 4 (kept while it suffices), float32 rows of P entries
    assert capacities == [1, 2, 4, 4]
    assert pointers[2] == pointers[3]
    assert gem._rows is not None and gem._rows.dtype == torch.float32
    assert gem._rows.shape[1] == sum(p.numel() for p in gem.model.parameters())


@pytest.mark.parametrize(
    ("params", "field"),
    [({"ridge": 0.0}, "ridge"), ({"ridge": 2.0}, "ridge"), ({"ridge_mode": "x"}, "ridge_mode")],
)
def test_bad_ridge_is_rejected_naming_the_field(params: dict, field: str) -> None:
    # when
    with pytest.raises(ValidationError) as caught:
        validate_updater({"name": "gem", "params": params})

    # then
    assert caught.value.errors()[0]["loc"] == ("params", field)
