"""RWalk's, A-GEM's and GEM's bookkeeping launches a fixed number of operations per step,
however many parameter tensors the model has: counted with ``bench/op_counts.py``'s
dispatch-mode counter on two MLPs of about the same size, one with 2 layers (4 tensors)
and one with 8 (16 tensors), less the plain forward/backward and optimizer step the
update contains (counted the same way)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from torch import nn

from bench.op_counts import ops_of_forward_backward, ops_per_step
from worker.architectures.mlp import MLP

INPUT_DIM, CLASSES = 16, 10
SHALLOW: Callable[[], nn.Module] = lambda: MLP(INPUT_DIM, [64], CLASSES)  # noqa: E731
DEEP: Callable[[], nn.Module] = lambda: MLP(INPUT_DIM, [14] * 7, CLASSES)  # noqa: E731
CASES = [("rwalk", 1, 0), ("rwalk+replay", 1, 0), ("agem", 1, 1), ("gem", 1, 1), ("gem", 3, 3)]


def bookkeeping(method: str, past: int, extra_passes: int, build: Callable[[], nn.Module]) -> float:
    """Operations per step beyond the plain step and the extra forward/backward passes."""
    shape = (INPUT_DIM,)
    plain = ops_per_step("naive", build, shape, CLASSES)
    passes = extra_passes * ops_of_forward_backward(build, shape)
    return ops_per_step(method, build, shape, CLASSES, past=past) - plain - passes


def test_the_two_models_differ_in_tensors_not_in_size() -> None:
    shallow, deep = SHALLOW(), DEEP()
    assert len(list(deep.parameters())) == 4 * len(list(shallow.parameters()))
    sizes = [sum(p.numel() for p in m.parameters()) for m in (shallow, deep)]
    assert abs(sizes[0] - sizes[1]) < 0.1 * sizes[0]


@pytest.mark.parametrize(("method", "past", "extra_passes"), CASES)
def test_bookkeeping_does_not_grow_with_the_number_of_parameter_tensors(
    method: str, past: int, extra_passes: int
) -> None:
    # when
    shallow = bookkeeping(method, past, extra_passes, SHALLOW)
    deep = bookkeeping(method, past, extra_passes, DEEP)

    # then: the same count for 4 and for 16 tensors, and some bookkeeping was counted
    assert deep == pytest.approx(shallow, abs=1e-6), (
        f"{method}: {shallow} ops for 4 tensors, {deep} for 16"
    )
    assert shallow > 0
