"""GEM's dual quadratic program (GEM Eq. 9), solved exactly in float64 on the host.

The dual has one variable per past experience (t, where the primal has P in the millions)
and needs only G Gᵀ and G g. As in the authors' code (and Avalanche), its bound is the
margin γ = ``memory_strength`` instead of the paper's 0, and a ridge ρ keeps the Hessian
positive definite when reference gradients coincide. The solver is the primal active-set
method (Nocedal & Wright 2006, Algorithm 16.3), for simple bounds Lawson & Hanson's NNLS
scheme: it ends after finitely many steps at the solution, exact up to rounding.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

RIDGE = 1e-3
"""ρ: added to the diagonal of G Gᵀ, as in the authors' code (and Avalanche's)."""

_MULTIPLIER_TOLERANCE = 1e-10
"""Relative size below which a negative multiplier is rounding, not a reason to move."""


def solve_gem_dual(
    gram: NDArray[np.float64],
    gradient_products: NDArray[np.float64],
    margin: float,
    ridge: float | NDArray[np.float64] = RIDGE,
) -> NDArray[np.float64]:
    """v* = argmin_v ½ vᵀ(G Gᵀ + ρI)v + (G g)ᵀv subject to v ≥ γ (GEM Eq. 9, the dual), from
    ``gram`` G Gᵀ (t × t) and ``gradient_products`` G g (t,); then g̃ = Gᵀv* + g. ``ridge``
    is ρ, or the (t,) diagonal of a ridge that differs per experience."""
    gram = np.asarray(gram, dtype=np.float64)
    products = np.asarray(gradient_products, dtype=np.float64)
    t = products.shape[0]
    if gram.shape != (t, t):
        raise ValueError(f"gram must be {t}x{t}, got {gram.shape}")
    if not (np.isfinite(gram).all() and np.isfinite(products).all()):
        raise ValueError("the GEM dual QP needs finite G Gᵀ and G g")
    hessian = 0.5 * (gram + gram.T) + np.diag(np.broadcast_to(ridge, (t,)).astype(np.float64))
    # Shift v = u + γ so that the bounds read u ≥ 0: the linear term becomes G g + Q γ.
    linear = products + hessian @ np.full(t, float(margin))
    u = _solve_nonnegative_qp(hessian, linear)
    return u + float(margin)


def _solve_nonnegative_qp(
    hessian: NDArray[np.float64], linear: NDArray[np.float64]
) -> NDArray[np.float64]:
    """argmin_{u ≥ 0} ½ uᵀ H u + cᵀu for a symmetric positive-definite H.

    From u = 0 with every bound held: minimise over the free variables; accept a feasible
    minimiser and release the most violated bound, else stop at the first bound crossed.
    Each step strictly lowers the objective, so no working set repeats."""
    t = linear.shape[0]
    u = np.zeros(t)
    free = np.zeros(t, dtype=bool)
    # Each working set is visited at most once (the objective strictly decreases between
    # subspace minimisers), so this bound is never reached in exact arithmetic.
    max_iterations = 10 * t + 100
    for _ in range(max_iterations):
        target = _subspace_minimiser(hessian, linear, free)
        if np.all(target[free] > 0):
            u = target
            multipliers = hessian @ u + linear  # KKT: ∇ ≥ 0 on the bounds held at 0
            scale = np.abs(hessian) @ np.abs(u) + np.abs(linear)
            violated = (~free) & (multipliers < -_MULTIPLIER_TOLERANCE * (scale + 1e-300))
            if not violated.any():
                return u
            candidates = np.where(violated, multipliers, np.inf)
            free[int(np.argmin(candidates))] = True  # release the most violated bound
            continue
        # The subspace minimiser is infeasible: walk towards it up to the first bound.
        blocking = free & (target <= 0)
        ratios = np.full(t, np.inf)
        gap = u[blocking] - target[blocking]  # ≥ 0, and 0 only for a just-released u = 0
        ratios[blocking] = np.divide(u[blocking], gap, out=np.zeros_like(gap), where=gap > 0)
        step = float(min(1.0, ratios.min()))
        if step == 0.0:
            # Only the bound released last can block at once (the others are strictly
            # positive): its multiplier was negative by rounding alone, so u is optimal.
            return u
        u = np.where(free, u + step * (target - u), 0.0)
        newly_bound = free & ((ratios <= step) | (u <= 0))
        u[newly_bound] = 0.0
        free &= ~newly_bound
    raise RuntimeError("GEM dual QP: the active-set method did not terminate")


def _subspace_minimiser(
    hessian: NDArray[np.float64], linear: NDArray[np.float64], free: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Minimiser over the free variables with the others held at 0: H_FF u_F = −c_F."""
    target = np.zeros(linear.shape[0])
    if free.any():
        target[free] = np.linalg.solve(hessian[np.ix_(free, free)], -linear[free])
    return target
