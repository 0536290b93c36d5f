"""``training.compile``: a fit under ``torch.compile`` trains as the uncompiled one does
(to float tolerance), and where compiling fails it logs a warning and trains uncompiled,
with exactly the uncompiled results."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch._inductor.config
from torch._dynamo.utils import counters

from app.schemas.updaters import ERParams, TrainingConfig
from worker.updaters.er import ER
from worker.updaters.protocol import Experience

CPU = torch.device("cpu")


def fit_er(
    make_model: Callable[..., torch.nn.Module], experience: Experience, compile: bool
) -> tuple[list[float], dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    training = TrainingConfig(batch_size=8, epochs=2, lr=0.1, compile=compile)
    er = ER(make_model(), ERParams(memory_size=20), training, CPU)
    report = er.fit(experience)
    return report.loss_curve, er.model.state_dict()


def test_the_option_is_off_by_default_and_must_be_a_boolean() -> None:
    assert TrainingConfig().compile is False
    with pytest.raises(ValueError, match="compile"):
        TrainingConfig.model_validate({"compile": "sometimes"})


def test_a_compiled_fit_trains_as_the_uncompiled_one(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given: one experience, fitted uncompiled and compiled from the same initial weights
    experience = make_experience([0, 1], per_class=12, seed=0)
    plain_curve, plain = fit_er(make_model, experience, compile=False)
    graphs = counters["stats"]["unique_graphs"]

    # when
    curve, weights = fit_er(make_model, experience, compile=True)

    # then: compiled graphs ran, nothing fell back, and the losses and weights are the
    # uncompiled ones to float tolerance
    assert counters["stats"]["unique_graphs"] > graphs
    assert "torch.compile failed" not in caplog.text
    assert curve == pytest.approx(plain_curve, rel=1e-4)
    for name, tensor in plain.items():
        torch.testing.assert_close(weights[name], tensor, rtol=1e-4, atol=1e-5)


def test_where_compiling_fails_the_fit_warns_and_trains_uncompiled(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a machine whose C++ compiler (inductor's CPU backend needs one) is missing
    monkeypatch.setattr(torch._inductor.config.cpp, "cxx", ("/nonexistent/c++",))
    monkeypatch.setattr(torch._inductor.config, "fx_graph_cache", False)
    experience = make_experience([0, 1], per_class=12, seed=0)
    plain_curve, plain = fit_er(make_model, experience, compile=False)

    # when
    curve, weights = fit_er(make_model, experience, compile=True)

    # then: a warning, and exactly the uncompiled run
    assert "torch.compile failed" in caplog.text
    assert curve == plain_curve
    for name, tensor in plain.items():
        assert torch.equal(weights[name], tensor), name
