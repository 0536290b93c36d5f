"""GEM's dual quadratic program, solved exactly in float64 on the host.

GEM (Lopez-Paz & Ranzato 2017, §3) replaces a gradient g that conflicts with a past
experience's reference gradient by the closest g̃ (in squared norm) with G g̃ ≥ 0, where the
rows of G (t × P) are the reference gradients. Its dual has one variable per past
experience (t of them, where P is millions):

    min_v  ½ vᵀ (G Gᵀ + ρ I) v + (G g)ᵀ v    s.t.  v ≥ γ           (GEM Eq. 9, the dual)
    g̃ = Gᵀ v* + g                                                   (GEM, below Eq. 9)

Eq. 9 as printed has γ = 0 and ρ = 0; as in the authors' code (and Avalanche), γ is
``memory_strength`` (a margin that favours backward transfer) and the ridge ρ = 1e-3 keeps
the Hessian positive definite even when reference gradients coincide. Only G Gᵀ (t × t)
and G g (t) are needed here.

Method: the primal active-set method for a strictly convex QP (Nocedal & Wright 2006,
Algorithm 16.3), specialised to simple lower bounds, where it is Lawson & Hanson's NNLS
scheme with a general positive-definite Hessian. With u = v − γ ≥ 0 it starts at u = 0 with
every bound in the working set. Each iteration minimises the objective over the free
variables (bounds in the working set held at 0); if that minimiser is feasible it is
accepted and the bound with the most negative multiplier is released, otherwise the step
stops at the first bound it would cross, which joins the working set. Free variables are
kept strictly positive, so every step has positive length and strictly lowers the
objective; hence no working set repeats and the method ends after finitely many steps at
the exact (up to rounding) solution, where the KKT conditions hold. (Only a bound released
on a multiplier that was negative by rounding alone can block a step at once; the solver
then stops at the current point, which is optimal to that rounding.)
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
    ridge: float = RIDGE,
) -> NDArray[np.float64]:
    """The minimiser v* of ½ vᵀ(gram + ridge·I)v + gradient_productsᵀv subject to v ≥ margin.

    ``gram`` is G Gᵀ (t × t), ``gradient_products`` is G g (t,). Returns v* (t,), float64.
    """
    gram = np.asarray(gram, dtype=np.float64)
    products = np.asarray(gradient_products, dtype=np.float64)
    t = products.shape[0]
    if gram.shape != (t, t):
        raise ValueError(f"gram must be {t}x{t}, got {gram.shape}")
    if not (np.isfinite(gram).all() and np.isfinite(products).all()):
        raise ValueError("the GEM dual QP needs finite G Gᵀ and G g")
    hessian = 0.5 * (gram + gram.T) + ridge * np.eye(t)
    # Shift v = u + γ so that the bounds read u ≥ 0: the linear term becomes G g + Q γ.
    linear = products + hessian @ np.full(t, float(margin))
    u = _solve_nonnegative_qp(hessian, linear)
    return u + float(margin)


def _solve_nonnegative_qp(
    hessian: NDArray[np.float64], linear: NDArray[np.float64]
) -> NDArray[np.float64]:
    """argmin_{u ≥ 0} ½ uᵀ H u + cᵀu for a symmetric positive-definite H (active set)."""
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
