"""The torch-free version-0 initialiser (API side) and the torch module (worker side)
must agree on every tensor name, shape and dtype."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.architectures import initial_weights, validate_architecture
from worker.architectures import build_model


@pytest.mark.parametrize("hidden", [[], [5], [7, 3, 4]])
def test_initial_weights_load_strictly_into_the_module(hidden: list[int]) -> None:
    # given: an mlp spec
    spec = validate_architecture(
        {"name": "mlp", "params": {"input_dim": 6, "hidden": hidden, "num_classes": 3}}
    )
    # when: the numpy initial weights are loaded into the torch module
    model = build_model(spec.name, spec.params)
    weights = initial_weights(spec, seed=11)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    # then: every tensor matches, and the module computes logits of the right shape
    for name, tensor in model.state_dict().items():
        assert tensor.dtype == torch.float32
        np.testing.assert_array_equal(tensor.numpy(), weights[name])
    assert model(torch.zeros(4, 6)).shape == (4, 3)


def test_initial_weights_follow_torch_default_linear_bounds() -> None:
    # given: a wide layer, where the empirical range approaches the bound
    spec = validate_architecture(
        {"name": "mlp", "params": {"input_dim": 400, "hidden": [300], "num_classes": 2}}
    )
    weights = initial_weights(spec, seed=0)
    bound = 1 / np.sqrt(400)
    # then: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), like torch's nn.Linear default
    first = weights["layers.0.weight"]
    assert np.abs(first).max() <= bound
    assert np.abs(first).max() > 0.99 * bound
    assert abs(float(first.mean())) < 0.01 * bound * 10


def test_initial_weights_are_seeded() -> None:
    spec = validate_architecture(
        {"name": "mlp", "params": {"input_dim": 3, "hidden": [4], "num_classes": 2}}
    )
    a, b, c = initial_weights(spec, 1), initial_weights(spec, 1), initial_weights(spec, 2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["layers.0.weight"], c["layers.0.weight"])
