"""GEM's dual QP (GEM Eq. 9) solved on the device, without a host round trip.

The same problem as ``gem_qp.solve_gem_dual`` — min_v ½ vᵀ(G Gᵀ + D)v + (G g)ᵀv subject to
v ≥ γ, for a diagonal ridge D — but for the few experiences a step typically has, solved
by trying every active set at once: with u = v − γ ≥ 0, each of the 2^t subsets S of free
variables gives the minimiser of the subspace (H_SS u_S = −c_S, u elsewhere 0) from one
batched linear solve, and the KKT point (u_S ≥ 0, multipliers H u + c ≥ 0 off S) is the
solution of the strictly convex problem. No data-dependent control flow, a fixed number
of operations, exact up to rounding: the answer of the active-set method, found in one
pass instead of a loop that needs the host after every step. Beyond ``MAX_ENUMERATED``
experiences 2^t grows too fast and GEM falls back to the host solver.
"""

from __future__ import annotations

import functools

import torch

MAX_ENUMERATED = {"cuda": 10}
"""Most experiences solved by enumeration, per device type (2^10 systems of 10×10 is
nothing for a GPU); on the CPU, where there is no host round trip to save, beyond 8 the
host's active-set method is cheaper."""

DEFAULT_MAX_ENUMERATED = 8


def enumerable(t: int, device: torch.device) -> bool:
    """Whether ``solve_gem_dual_on_device`` serves ``t`` experiences on ``device``."""
    return t <= MAX_ENUMERATED.get(device.type, DEFAULT_MAX_ENUMERATED)


@functools.cache
def _active_sets(
    t: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every subset S of {0, …, t−1}: a (2^t, t) bool mask of S, the mask of S × S
    (2^t, t, t), −1 on S (float64, 0 elsewhere) and the identity — built once per t and
    device."""
    codes = torch.arange(2**t, device=device)
    free = (codes[:, None] >> torch.arange(t, device=device)) & 1 == 1
    pairs = free[:, :, None] & free[:, None, :]
    return free, pairs, -free.double(), torch.eye(t, dtype=torch.float64, device=device)


def solve_gem_dual_on_device(
    gram: torch.Tensor, products: torch.Tensor, margin: float, ridge: torch.Tensor
) -> torch.Tensor:
    """v* for ``gram`` G Gᵀ (t × t), ``products`` G g (t,), margin γ and the ridge's
    diagonal (t,): all float64 tensors on one device; the result stays there."""
    t = products.shape[0]
    hessian = gram + torch.diag(ridge)
    # Shift v = u + γ so that the bounds read u ≥ 0: the linear term becomes G g + H γ.
    linear = torch.add(products, hessian.sum(dim=1), alpha=float(margin))
    if t == 1:  # u* = max(0, −c / H)
        return (linear / hessian[0]).neg_().clamp_min_(0) + float(margin)
    free, pairs, minus_free, eye = _active_sets(t, products.device)
    # One system per free set S: H on S × S, the identity elsewhere, so u = 0 off S
    # exactly (that row and column stay untouched by the elimination).
    systems = torch.where(pairs, hessian, eye)
    u = torch.linalg.solve_ex(systems, linear * minus_free)[0]
    multipliers = torch.addmm(linear, u, hessian)  # H u + c: ≥ 0 where u is held at 0
    # The KKT point is the one candidate with u_S ≥ 0 and multipliers ≥ 0 off S (in the
    # multipliers' units: u scaled by H's diagonal); any other breaks one of them.
    slack = torch.where(free, u * hessian.diagonal(), multipliers).amin(dim=1)
    best = slack.nan_to_num(nan=-torch.inf).argmax().unsqueeze(0)  # no host sync
    return u.index_select(0, best).squeeze(0) + float(margin)
