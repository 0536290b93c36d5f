"""DER / DER++: stored logits are the training forward's, the loss is CE + alpha·MSE (+ beta·CE),
beta = 0 draws no second memory batch, and the parameters are validated."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from app.schemas.updaters import (
    DERParams,
    ERParams,
    TrainingConfig,
    UpdaterSpec,
    validate_updater,
)
from worker.updaters.der import DER
from worker.updaters.er import ER
from worker.updaters.protocol import Experience
from worker.updaters.registry import build_updater

CPU = torch.device("cpu")
Recorded = list[tuple[torch.Tensor, torch.Tensor]]


def record_forwards(model: torch.nn.Module) -> Recorded:
    """(input, output) of every forward call of ``model`` from now on."""
    calls: Recorded = []
    model.register_forward_hook(
        lambda _m, args, output: calls.append((args[0].detach(), output.detach().clone()))
    )
    return calls


def row_index(rows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Index in ``table`` of each row of ``rows``; each must occur exactly once."""
    matches = (rows[:, None, :] == table[None, :, :]).all(-1)
    assert (matches.sum(1) == 1).all()
    return matches.float().argmax(1)


def test_stored_logits_are_those_of_the_training_forward_at_insertion(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: room for the whole experience, two epochs, DER++ storing training logits
    der = DER(
        make_model(),
        DERParams(memory_size=64, alpha=0.5, beta=0.5, logits="training"),
        TrainingConfig(batch_size=8, epochs=2),
        CPU,
    )
    calls = record_forwards(der.model)
    experience = make_experience([0, 1], per_class=16, seed=0)

    # when
    der.fit(experience)

    # then: slot i holds the i-th new sample of the last epoch, with the logits its
    # training forward gave it (before that step's update), as float32 over all classes
    last_epoch = calls[4:]
    assert len(last_epoch) == 4
    stored = der.buffer.state_dict().tensors
    assert der.buffer.seen == 32 and len(der.buffer) == 32
    assert torch.equal(stored["buffer.x"], torch.cat([x[:8] for x, _ in last_epoch]))
    assert torch.equal(stored["buffer.logits"], torch.cat([z[:8] for _, z in last_epoch]))
    assert stored["buffer.logits"].dtype == torch.float32
    assert stored["buffer.logits"].shape == (32, 6)


def test_loss_is_ce_plus_alpha_mse_plus_beta_ce_on_two_independent_memory_batches(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: a full memory, then one step on a new experience
    alpha, beta = 0.3, 0.7
    der = DER(
        make_model(),
        DERParams(memory_size=16, memory_batch_size=6, alpha=alpha, beta=beta, logits="training"),
        TrainingConfig(batch_size=8, epochs=1),
        CPU,
    )
    der.fit(make_experience([0, 1], per_class=12, seed=0))
    memory = {name: values.clone() for name, values in der.buffer.fields.items()}
    new = make_experience([2, 3], per_class=4, seed=1)
    calls = record_forwards(der.model)

    # when
    report = der.fit(new)

    # then: recompute Eq. 6 by hand from what the one forward saw
    assert report.steps == 1 and len(calls) == 1
    inputs, outputs = calls[0]
    assert inputs.shape[0] == 8 + 6 + 6
    y = new.y[row_index(inputs[:8], new.x)]
    logit_rows = row_index(inputs[8:14], memory["x"])
    label_rows = row_index(inputs[14:], memory["x"])
    expected = (
        F.cross_entropy(outputs[:8], y)
        + alpha * F.mse_loss(outputs[8:14], memory["logits"][logit_rows])
        + beta * F.cross_entropy(outputs[14:], memory["y"][label_rows])
    )
    torch.testing.assert_close(torch.tensor(report.loss_curve[0]), expected, rtol=1e-6, atol=0)
    assert logit_rows.unique().numel() == 6 and label_rows.unique().numel() == 6
    assert not torch.equal(logit_rows, label_rows)  # two draws, not one batch used twice


def test_plain_der_draws_exactly_the_memory_batches_er_draws(
    make_model: Callable[..., torch.nn.Module],
    make_stream: Callable[..., list[Experience]],
) -> None:
    # given: ER (offering step by step, as DER with training logits does), DER (beta = 0)
    # and DER++ with the same seed, memory and data
    stream = make_stream(per_class=12, seed=2)
    training = TrainingConfig(batch_size=8, epochs=2)
    er = ER(make_model(), ERParams(memory_size=20, memory_update="last_epoch"), training, CPU)
    der = DER(
        make_model(),
        DERParams(memory_size=20, alpha=0.3, beta=0.0, logits="training"),
        training,
        CPU,
    )
    derpp = DER(
        make_model(),
        DERParams(memory_size=20, alpha=0.3, beta=0.5, logits="training"),
        training,
        CPU,
    )
    der_sizes = record_forwards(der.model)
    derpp_sizes = record_forwards(derpp.model)

    # when
    for experience in stream:
        er.fit(experience)
        der.fit(experience)
        derpp.fit(experience)

    # then: beta = 0 consumed the generator exactly as ER (one memory batch per step)
    assert torch.equal(der.generator.get_state(), er.generator.get_state())
    assert not torch.equal(derpp.generator.get_state(), er.generator.get_state())
    # (the memory fills during the first chunk's last epoch: look from the second chunk on,
    # after 2 epochs x 3 steps of 8 new samples)
    first_fit = 2 * 3
    assert {x.shape[0] for x, _ in der_sizes[first_fit:]} == {8 + 8}
    assert {x.shape[0] for x, _ in derpp_sizes[first_fit:]} == {8 + 8 + 8}


def test_der_plus_plus_trains_differently_from_der(
    make_model: Callable[..., torch.nn.Module],
    make_stream: Callable[..., list[Experience]],
) -> None:
    # given
    stream = make_stream(per_class=12, seed=4)
    training = TrainingConfig(batch_size=8)
    der = DER(make_model(), DERParams(memory_size=20, beta=0.0), training, CPU)
    derpp = DER(make_model(), DERParams(memory_size=20, beta=0.5), training, CPU)

    # when
    for experience in stream:
        der.fit(experience)
        derpp.fit(experience)

    # then
    weights = zip(der.model.parameters(), derpp.model.parameters(), strict=True)
    assert not all(torch.equal(p, q) for p, q in weights)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"alpha": -1}, "alpha"),
        ({"beta": -0.5}, "beta"),
        ({"memory_size": 0}, "memory_size"),
        ({"alhpa": 0.3}, "alhpa"),  # a typo is an unknown field, not a silent default
    ],
)
def test_bad_hyperparameter_is_rejected_naming_the_field(
    params: dict[str, float], field: str, make_model: Callable[..., torch.nn.Module]
) -> None:
    # when
    with pytest.raises(ValidationError) as from_api:
        validate_updater({"name": "der", "params": params})
    with pytest.raises(ValidationError) as from_worker:
        build_updater(UpdaterSpec(name="der", params=params), make_model(), TrainingConfig(), CPU)

    # then
    assert from_api.value.errors()[0]["loc"] == ("params", field)
    assert field in str(from_worker.value)
