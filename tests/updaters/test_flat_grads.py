"""Flat views of a model's parameters and gradients: gathered in order, zeros for what
the loss does not reach, and ``.grad`` that is the flat buffer itself."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from worker.updaters.flat_grads import (
    FlatGradient,
    FlatLayout,
    gather,
    gather_gradient,
    trainable_parameters,
)


def model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_gathered_parameters_are_their_concatenation_in_order() -> None:
    # given
    parameters = trainable_parameters(model())
    layout = FlatLayout(parameters)
    flat = layout.zeros()

    # when
    gather(layout.views(flat), parameters)

    # then
    assert torch.equal(flat, torch.cat([p.detach().reshape(-1) for p in parameters]))
    assert layout.numel == 3 * 4 + 4 + 4 * 2 + 2


def test_a_gradient_the_loss_does_not_reach_is_gathered_as_zeros() -> None:
    # given: the second layer's bias takes no part in the loss, after a step that left
    # something in the buffer
    net = model()
    parameters = trainable_parameters(net)
    layout = FlatLayout(parameters)
    flat = torch.full((layout.numel,), 7.0)
    x = torch.randn(5, 3)

    # when
    gather_gradient(F.linear(net[0](x), net[2].weight).sum(), parameters, layout.views(flat))

    # then
    expected = torch.autograd.grad(
        F.linear(net[0](x), net[2].weight).sum(), parameters[:3], allow_unused=False
    )
    torch.testing.assert_close(flat[:-2], torch.cat([g.reshape(-1) for g in expected]))
    assert torch.equal(flat[-2:], torch.zeros(2))


def test_the_optimizer_reads_the_flat_gradient_as_grad() -> None:
    # given
    net = model()
    parameters = trainable_parameters(net)
    gradient = FlatGradient(parameters, torch.float32)
    gradient.install()
    before = [p.detach().clone() for p in parameters]

    # when: g is written after install, then an SGD step
    gradient.flat.copy_(torch.arange(gradient.layout.numel, dtype=torch.float32))
    gradient.publish()
    torch.optim.SGD(parameters, lr=0.5).step()

    # then
    for p, b, view in zip(parameters, before, gradient.views, strict=True):
        assert p.grad is not None and p.grad.data_ptr() == view.data_ptr()
        torch.testing.assert_close(p.detach(), b - 0.5 * view)


def test_parameters_of_another_dtype_get_their_own_grad_refreshed_by_publish() -> None:
    # given: a float64 layer beside a float32 one
    net = model()
    net[2].double()
    parameters = trainable_parameters(net)
    gradient = FlatGradient(parameters, torch.float32)
    gradient.install()

    # when
    gradient.flat.fill_(0.25)
    gradient.publish()

    # then
    for p in parameters:
        assert p.grad is not None and p.grad.dtype == p.dtype
        assert bool((p.grad == 0.25).all())


def test_views_refuse_a_vector_of_another_size() -> None:
    layout = FlatLayout(trainable_parameters(model()))
    with pytest.raises(ValueError, match="flat vector"):
        layout.views(torch.zeros(layout.numel + 1))
