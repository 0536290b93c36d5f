"""The divergence check: one reduction over all parameters says whether any is NaN or inf,
and large finite weights (whose 2-norm would overflow) are not taken for divergence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from worker.divergence import weights_are_finite


def model() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    m.register_parameter("empty", nn.Parameter(torch.zeros(0)))  # no values: skipped
    return m


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_single_non_finite_weight_anywhere_is_divergence(bad: float) -> None:
    for layer in (0, 2):
        m = model()
        assert weights_are_finite(m)
        with torch.no_grad():
            m[layer].bias[-1] = bad
        assert not weights_are_finite(m)


def test_large_finite_weights_are_not_divergence() -> None:
    m = model()
    with torch.no_grad():
        m[0].weight.fill_(3e38)  # its 2-norm is inf in float32; its values are finite
    assert weights_are_finite(m)
