"""A-GEM: the projection against a float64 recomputation, the memory, and A-GEM in training."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn

from app.schemas.updaters import AGEMParams, TrainingConfig, validate_updater
from worker.updaters.agem import AGEM, project_gradient
from worker.updaters.protocol import Experience

CPU = torch.device("cpu")


def projection_in_float64(g: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    g, ref = g.double(), ref.double()
    return g - (g @ ref) / (ref @ ref) * ref


def test_projection_matches_a_float64_recomputation_on_a_violation() -> None:
    # given
    generator = torch.Generator().manual_seed(0)
    reference = torch.randn(500, generator=generator)
    gradient = torch.randn(500, generator=generator) - 0.5 * reference
    assert gradient @ reference < 0

    # when
    projected, violated = project_gradient(gradient, reference)

    # then
    assert bool(violated)
    torch.testing.assert_close(
        projected.double(), projection_in_float64(gradient, reference), rtol=1e-5, atol=1e-6
    )
    assert abs(float(projected.double() @ reference.double())) < 1e-3  # on the boundary


def test_no_projection_without_a_violation() -> None:
    # given
    generator = torch.Generator().manual_seed(1)
    reference = torch.randn(300, generator=generator)
    gradient = torch.randn(300, generator=generator) + 0.5 * reference
    assert gradient @ reference >= 0

    # when
    projected, violated = project_gradient(gradient, reference)

    # then
    assert not bool(violated)
    assert torch.equal(projected, gradient)


def test_zero_reference_gradient_leaves_the_gradient_finite_and_unchanged() -> None:
    # given
    gradient = torch.randn(50, generator=torch.Generator().manual_seed(2))

    # when
    projected, violated = project_gradient(gradient, torch.zeros(50))

    # then
    assert not bool(violated)
    assert torch.equal(projected, gradient)


# --- A-GEM in training -------------------------------------------------------------------


ModelFactory = Callable[..., nn.Module]
ExperienceFactory = Callable[..., Experience]


def flat_grad(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def test_memory_holds_patterns_per_experience_from_each_experience(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given
    experiences = [make_experience([2 * k, 2 * k + 1], per_class=15, seed=k) for k in range(3)]
    agem = AGEM(
        make_model(),
        AGEMParams(patterns_per_experience=5, sample_size=4),
        TrainingConfig(batch_size=10),
        CPU,
    )

    # when
    for experience in experiences:
        agem.fit(experience)

    # then
    assert agem.memory_per_experience == [5, 5, 5]
    assert agem.memory_x is not None and agem.memory_y is not None
    for k, experience in enumerate(experiences):
        block = agem.memory_x[5 * k : 5 * (k + 1)]
        matches = (block[:, None, :] == experience.x[None, :, :]).all(-1)
        assert (matches.sum(1) == 1).all() and matches.any(0).sum() == 5
        assert torch.equal(
            agem.memory_y[5 * k : 5 * (k + 1)], experience.y[matches.float().argmax(1)]
        )


def test_applied_gradient_is_the_projection_of_the_step_gradient(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given: one experience in memory (smaller than sample_size, so B_M is all of M)
    training = TrainingConfig(batch_size=32, lr=0.5)
    params = AGEMParams(patterns_per_experience=16, sample_size=64)
    agem = AGEM(make_model(), params, training, CPU)
    agem.fit(make_experience([0, 1], per_class=16, seed=0))
    before = copy.deepcopy(agem.model)
    new = make_experience([2, 3], per_class=16, seed=1)

    # when: one full-batch step on new classes
    report = agem.fit(new)

    # then: the step was projected, exactly as the formula says (recomputed at its start)
    assert report.steps == 1 and report.extra["projected_fraction"] == 1.0
    assert agem.memory_x is not None and agem.memory_y is not None
    F.cross_entropy(before(agem.memory_x[:16]), agem.memory_y[:16]).backward()
    reference = flat_grad(before)
    before.zero_grad(set_to_none=True)
    F.cross_entropy(before(new.x), new.y).backward()
    proposed = flat_grad(before)
    assert proposed @ reference < 0
    torch.testing.assert_close(
        flat_grad(agem.model).double(),
        projection_in_float64(proposed, reference),
        rtol=1e-5,
        atol=1e-6,
    )


def test_memory_batch_draws_sample_size_distinct_memory_rows(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given
    agem = AGEM(
        make_model(),
        AGEMParams(patterns_per_experience=20, sample_size=6),
        TrainingConfig(batch_size=20),
        CPU,
    )
    agem.fit(make_experience([0, 1], per_class=10, seed=0))

    # when
    x, y = agem._memory_batch()

    # then
    assert agem.memory_x is not None
    matches = (x[:, None, :] == agem.memory_x[None, :, :]).all(-1)
    assert x.shape[0] == y.shape[0] == 6
    assert (matches.sum(1) == 1).all() and matches.any(0).sum() == 6


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sample_size": 0}, "sample_size"),
        ({"patterns_per_experience": -3}, "patterns_per_experience"),
    ],
)
def test_bad_hyperparameter_is_rejected_naming_the_field(params: dict, field: str) -> None:
    # when
    with pytest.raises(ValidationError) as caught:
        validate_updater({"name": "agem", "params": params})

    # then
    assert caught.value.errors()[0]["loc"] == ("params", field)


def test_memory_batch_takes_an_equal_share_of_each_past_experience(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given: three past experiences of 10 patterns each, sample_size 7
    agem = AGEM(
        make_model(),
        AGEMParams(patterns_per_experience=10, sample_size=7),
        TrainingConfig(batch_size=20),
        CPU,
    )
    for k in range(3):
        agem.fit(make_experience([2 * k, 2 * k + 1], per_class=10, seed=k))

    # when
    x, y = agem._memory_batch()

    # then: 3, 2, 2 rows from M_0, M_1, M_2 (the rows sit in experience order), distinct
    assert agem.memory_x is not None and agem.memory_y is not None
    matches = (x[:, None, :] == agem.memory_x[None, :, :]).all(-1)
    assert (matches.sum(1) == 1).all()
    rows = matches.float().argmax(1)
    assert torch.bincount(rows // 10, minlength=3).tolist() == [3, 2, 2]
    assert rows.unique().numel() == 7
    assert torch.equal(y, agem.memory_y[rows])
