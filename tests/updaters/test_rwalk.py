"""RWalk: Fisher, scores and penalty against a float64 recomputation from the paper's
equations; the unpenalised gradient; no NaN/Inf on hostile inputs; train mode kept."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn
from torch.func import functional_call

from app.schemas.updaters import RWalkParams, TrainingConfig, validate_updater
from worker.updaters.protocol import Experience
from worker.updaters.rwalk import SCORE_EPSILON, RWalk, normalised
from worker.updaters.state_io import load_state, save_state

CPU = torch.device("cpu")


ModelFactory = Callable[..., nn.Module]
ExperienceFactory = Callable[..., Experience]


def all_finite(tensors: list[torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


class Float64RWalk:
    """RWalk written out from the equations, in float64, for full-batch plain SGD."""

    def __init__(self, model: nn.Module, params: RWalkParams, lr: float) -> None:
        self.model = copy.deepcopy(model).double()
        self.theta = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        self.params, self.lr = params, lr
        self.fisher = {n: torch.zeros_like(p) for n, p in self.theta.items()}
        self.score: dict[str, torch.Tensor] | None = None
        self.importance: dict[str, torch.Tensor] | None = None
        self.anchor: dict[str, torch.Tensor] | None = None

    def gradient(self, theta: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> dict:
        leaves = {n: t.clone().requires_grad_(True) for n, t in theta.items()}
        loss = F.cross_entropy(functional_call(self.model, leaves, (x.double(),)), y)
        return dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values())), strict=True))

    def experience(self, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
        alpha, lam, delta_t = self.params.ewc_alpha, self.params.ewc_lambda, self.params.delta_t
        names = list(self.theta)
        score_e = {n: torch.zeros_like(self.theta[n]) for n in names}
        window_loss = {n: torch.zeros_like(self.theta[n]) for n in names}
        window_start = dict(self.theta)
        in_window = 0

        def close() -> None:
            for n in names:
                moved = self.theta[n] - window_start[n]
                score_e[n] = score_e[n] + window_loss[n] / (
                    0.5 * self.fisher[n] * moved**2 + SCORE_EPSILON
                )
                window_loss[n] = torch.zeros_like(window_loss[n])
            window_start.update(self.theta)

        for _ in range(epochs):
            g = self.gradient(self.theta, x, y)
            new_theta = {}
            for n in names:
                self.fisher[n] = alpha * g[n] ** 2 + (1 - alpha) * self.fisher[n]
                total = g[n].clone()
                if self.importance is not None and self.anchor is not None:
                    total += 2 * lam * self.importance[n] * (self.theta[n] - self.anchor[n])
                new_theta[n] = self.theta[n] - self.lr * total
                window_loss[n] = window_loss[n] - g[n] * (new_theta[n] - self.theta[n])
            self.theta = new_theta
            in_window += 1
            if in_window == delta_t:
                close()
                in_window = 0
        if in_window:
            close()
        if self.score is None:
            self.score = score_e
        else:
            self.score = {n: 0.5 * (self.score[n] + score_e[n]) for n in names}
        max_f = max(float(f.max()) for f in self.fisher.values())
        max_s = max(float(s.clamp_min(0).max()) for s in self.score.values())
        self.importance = {
            n: self.fisher[n] / max_f + self.score[n].clamp_min(0) / max_s for n in names
        }
        self.anchor = dict(self.theta)


def test_fisher_score_and_importance_match_a_float64_recomputation(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given: full-batch steps (batch_size = n) so that the path is deterministic in float64
    params = RWalkParams(ewc_lambda=0.7, ewc_alpha=0.6, delta_t=2)
    training = TrainingConfig(batch_size=16, epochs=5, lr=0.3)
    experiences = [make_experience([0, 1], 8, seed=0), make_experience([2, 3], 8, seed=1)]
    model = make_model(hidden=(5,))
    by_hand = Float64RWalk(model, params, training.lr)
    rwalk = RWalk(model, params, training, CPU)

    for experience in experiences:
        # when
        rwalk.fit(experience)
        by_hand.experience(experience.x, experience.y, training.epochs)

        # then
        assert by_hand.score is not None and by_hand.importance is not None
        for k, name in enumerate(rwalk.names):
            expected_s = by_hand.score[name].float()
            torch.testing.assert_close(
                rwalk.fisher[k], by_hand.fisher[name].float(), rtol=1e-4, atol=1e-9
            )
            scale = max(float(s.abs().max()) for s in by_hand.score.values())
            torch.testing.assert_close(rwalk.score[k], expected_s, rtol=1e-3, atol=1e-4 * scale)
            torch.testing.assert_close(
                rwalk.importance[k], by_hand.importance[name].float(), rtol=1e-3, atol=1e-4
            )
            torch.testing.assert_close(
                rwalk.anchor[k], by_hand.theta[name].float(), rtol=1e-4, atol=1e-6
            )
    assert max(float(i.max()) for i in rwalk.importance) > 1.0  # both terms contribute


def test_unpenalised_gradient_equals_a_separate_task_loss_backward(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given: a first experience learned, so the penalty is active
    params = RWalkParams(ewc_lambda=5.0, ewc_alpha=0.5, delta_t=1)
    training = TrainingConfig(batch_size=16, epochs=1, lr=0.2)
    rwalk = RWalk(make_model(), params, training, CPU)
    rwalk.fit(make_experience([0, 1], 8, seed=0))
    with torch.no_grad():  # move θ away from θ* so that the penalty's gradient is not 0
        for p in rwalk.model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
    fisher_before = [f.clone() for f in rwalk.fisher]
    importance = [i.clone() for i in rwalk.importance]
    anchor = [a.clone() for a in rwalk.anchor]
    at_start = copy.deepcopy(rwalk.model)
    new = make_experience([2, 3], 8, seed=1)

    # when: one full-batch step
    rwalk.fit(new)

    # then: F was updated with ∇CE alone, while the applied gradient is ∇(CE + penalty)
    task_loss = F.cross_entropy(at_start(new.x), new.y)
    unpenalised = torch.autograd.grad(task_loss, list(at_start.parameters()))
    penalty = params.ewc_lambda * sum(
        (i * (p - a) ** 2).sum()
        for i, p, a in zip(importance, at_start.parameters(), anchor, strict=True)
    )
    total = torch.autograd.grad(
        F.cross_entropy(at_start(new.x), new.y) + penalty, list(at_start.parameters())
    )
    alpha = params.ewc_alpha
    for k, p in enumerate(rwalk.model.parameters()):
        expected = alpha * unpenalised[k] ** 2 + (1 - alpha) * fisher_before[k]
        torch.testing.assert_close(rwalk.fisher[k], expected, rtol=1e-5, atol=1e-10)
        torch.testing.assert_close(p.grad, total[k], rtol=1e-5, atol=1e-7)
    assert max(float((t - u).abs().max()) for t, u in zip(total, unpenalised, strict=True)) > 1e-2


@pytest.mark.parametrize(("optimizer", "ewc_lambda"), [("sgd", 0.1), ("adam", 10.0)])
def test_no_nan_or_inf_with_a_huge_learning_rate_on_a_class_incremental_stream(
    make_model: ModelFactory,
    make_stream: Callable[..., list[Experience]],
    optimizer: str,
    ewc_lambda: float,
) -> None:
    # given: experiences of 2 new classes each, lr at the schema's maximum
    training = TrainingConfig(batch_size=16, epochs=3, lr=10.0, optimizer=optimizer)
    rwalk = RWalk(make_model(), RWalkParams(ewc_lambda=ewc_lambda), training, CPU)
    stream = make_stream(per_class=24, seed=0)

    # when
    reports = [rwalk.fit(experience) for experience in stream]

    # then
    assert all(torch.isfinite(torch.tensor(r.loss_curve)).all() for r in reports)
    state = rwalk.state_dict().tensors
    assert all_finite(list(state.values())) and all_finite(list(rwalk.model.parameters()))
    assert max(float(i.max()) for i in rwalk.importance) > 0  # the penalty was in play


class ConstantOutput(nn.Module):
    """Logits that do not depend on the parameters: every gradient is exactly zero."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.0 * self.linear(x)


def test_all_zero_gradients_give_zero_importance_not_nan(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given
    first, second = make_experience([0, 1], 8, seed=0), make_experience([1, 2], 8, seed=1)
    model = ConstantOutput(first.x.shape[1])
    rwalk = RWalk(model, RWalkParams(delta_t=1), TrainingConfig(batch_size=8), CPU)

    # when
    rwalk.fit(first)
    rwalk.fit(second)

    # then: max F = 0 and max s = 0 make both normalised terms 0, not 0/0
    assert all(bool((t == 0).all()) for t in rwalk.fisher + rwalk.score + rwalk.importance)


def test_normalisation_guards_non_positive_maxima() -> None:
    # given
    negative = [torch.tensor([-1.0, -3.0]), torch.tensor([[-0.5]])]
    zero = [torch.zeros(3)]
    positive = [torch.tensor([1.0, 4.0]), torch.tensor([2.0])]

    # when
    results = normalised(negative), normalised(zero), normalised(positive)

    # then
    assert all(bool((t == 0).all()) for t in results[0] + results[1])
    assert torch.equal(results[2][0], torch.tensor([0.25, 1.0]))
    assert torch.equal(results[2][1], torch.tensor([0.5]))


def test_model_stays_in_train_mode_and_batchnorm_statistics_move(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given
    first, second = make_experience([0, 1], 16, seed=0), make_experience([2, 3], 16, seed=1)
    torch.manual_seed(0)
    dim = first.x.shape[1]
    model = nn.Sequential(nn.Linear(dim, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
    rwalk = RWalk(model, RWalkParams(delta_t=2), TrainingConfig(batch_size=8), CPU)
    rwalk.fit(first)
    running_mean = model[1].running_mean.clone()

    # when: an experience with the penalty active
    rwalk.fit(second)

    # then
    assert all(module.training for module in model.modules())
    assert not torch.allclose(model[1].running_mean, running_mean)


def test_state_round_trip_without_memory_continues_exactly(
    tmp_path: Path, make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given: no replay memory (test_state.py covers the registry's settings, with one)
    a, b = make_experience([0, 1], 12, seed=0), make_experience([2, 3], 12, seed=1)
    params = RWalkParams(delta_t=3)
    training = TrainingConfig(batch_size=8, epochs=2)
    uninterrupted = RWalk(make_model(), params, training, CPU)
    uninterrupted.fit(a)
    uninterrupted.fit(b)

    # when
    first = RWalk(make_model(), params, training, CPU)
    first.fit(a)
    save_state(first.state_dict(), tmp_path / "s.safetensors", tmp_path / "s.json")
    model = make_model(seed=99)
    model.load_state_dict(first.model.state_dict())
    resumed = RWalk(model, params, training, CPU)
    resumed.load_state_dict(load_state(tmp_path / "s.safetensors", tmp_path / "s.json"))
    resumed.fit(b)

    # then
    for p, q in zip(uninterrupted.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    for key, tensor in uninterrupted.state_dict().tensors.items():
        assert torch.equal(resumed.state_dict().tensors[key], tensor), key


def test_replay_memory_fills_and_enters_the_task_loss(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given: a reservoir no larger than memory_batch_size, so a step replays all of it
    params = RWalkParams(ewc_alpha=0.5, memory_size=6, memory_batch_size=6)
    training = TrainingConfig(batch_size=16, epochs=1, lr=0.2)
    rwalk = RWalk(make_model(), params, training, CPU)
    first = make_experience([0, 1], 8, seed=0)
    rwalk.fit(first)
    assert rwalk.buffer is not None and len(rwalk.buffer) == 6
    memory_x, memory_y = rwalk.buffer.fields["x"][:6].clone(), rwalk.buffer.fields["y"][:6].clone()
    fisher_before = [f.clone() for f in rwalk.fisher]
    at_start = copy.deepcopy(rwalk.model)
    new = make_experience([2, 3], 8, seed=1)

    # when: one full-batch step
    report = rwalk.fit(new)

    # then: every stored row came from the stream, and F saw ∇CE over new + replayed samples
    stored = (memory_x[:, None, :] == first.x[None, :, :]).all(-1)
    assert (stored.sum(1) == 1).all() and report.extra["memory_filled"] == 6.0
    replayed = F.cross_entropy(at_start(torch.cat([new.x, memory_x])), torch.cat([new.y, memory_y]))
    gradient = torch.autograd.grad(replayed, list(at_start.parameters()))
    for k, g in enumerate(gradient):
        expected = 0.5 * g**2 + 0.5 * fisher_before[k]
        torch.testing.assert_close(rwalk.fisher[k], expected, rtol=1e-5, atol=1e-10)


def test_no_memory_by_default(make_model: ModelFactory, make_experience: ExperienceFactory) -> None:
    # when
    rwalk = RWalk(make_model(), RWalkParams(), TrainingConfig(), CPU)
    rwalk.fit(make_experience([0, 1], 8, seed=0))

    # then
    assert rwalk.buffer is None
    assert not any(key.startswith("buffer") for key in rwalk.state_dict().tensors)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"ewc_alpha": 1.5}, "ewc_alpha"),
        ({"delta_t": 0}, "delta_t"),
        ({"ewc_lambda": -1.0}, "ewc_lambda"),
        ({"memory_size": -1}, "memory_size"),
    ],
)
def test_bad_hyperparameter_is_rejected_naming_the_field(params: dict, field: str) -> None:
    # when
    with pytest.raises(ValidationError) as caught:
        validate_updater({"name": "rwalk", "params": params})

    # then
    assert caught.value.errors()[0]["loc"] == ("params", field)


def test_adding_a_memory_to_a_saved_state_keeps_the_importances_and_starts_it_empty(
    make_model: ModelFactory, make_experience: ExperienceFactory
) -> None:
    # given: the state of an RWalk without memory after one experience
    training = TrainingConfig(batch_size=8)
    without = RWalk(make_model(), RWalkParams(delta_t=3), training, CPU)
    without.fit(make_experience([0, 1], 12, seed=0))
    state = without.state_dict()

    # when: restored into an RWalk with a memory, which then learns a chunk
    with_memory = RWalk(make_model(), RWalkParams(delta_t=3, memory_size=10), training, CPU)
    with_memory.load_state_dict(state)
    restored = {k: v.clone() for k, v in with_memory.state_dict().tensors.items()}
    seen_after_load = with_memory.state_dict().meta["buffer"]["seen"]
    report = with_memory.fit(make_experience([2, 3], 12, seed=1))

    # then: no KeyError; F, s, P and θ* as saved, an empty memory that fills from here
    for name in without.names:
        for kind in ("fisher", "score", "importance", "anchor"):
            key = f"{kind}.{name}"
            assert torch.equal(restored[key], state.tensors[key]), key
    assert seen_after_load == 0
    assert with_memory.experiences_seen == 2
    assert report.extra["memory_filled"] == 10.0

    # and back without a memory: the saved memory is ignored
    back = RWalk(make_model(), RWalkParams(delta_t=3), training, CPU)
    back.load_state_dict(with_memory.state_dict())
    assert back.buffer is None and back.experiences_seen == 2
