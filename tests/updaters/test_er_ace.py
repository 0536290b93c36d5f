"""ER-ACE: the new batch's cross-entropy over the classes present in it, the memory batch's
over all classes (recomputed by hand), no gradient into absent classes from new data, the
memory offered before the fit by default, and validated parameters."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from app.schemas.updaters import ERACEParams, TrainingConfig, UpdaterSpec, validate_updater
from worker.updaters.er_ace import ERACE, present_classes_cross_entropy
from worker.updaters.protocol import Experience
from worker.updaters.registry import build_updater

CPU = torch.device("cpu")


def record_forwards(model: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    model.register_forward_hook(
        lambda _m, args, output: calls.append((args[0].detach(), output.detach().clone()))
    )
    return calls


def row_index(rows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    matches = (rows[:, None, :] == table[None, :, :]).all(-1)
    assert (matches.sum(1) == 1).all()
    return matches.float().argmax(1)


def test_masked_cross_entropy_is_the_cross_entropy_over_the_present_classes_only() -> None:
    # given: logits over 6 classes, a batch holding classes 2 and 4
    logits = torch.randn(5, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    y = torch.tensor([2, 4, 4, 2, 2])

    # when
    loss = present_classes_cross_entropy(logits, y)
    loss.backward()

    # then: the softmax runs over columns {2, 4}, and absent columns get no gradient
    present = torch.tensor([2, 4])
    expected = F.cross_entropy(logits.detach()[:, present], torch.tensor([0, 1, 1, 0, 0]))
    torch.testing.assert_close(loss.detach(), expected)
    assert logits.grad is not None
    assert (logits.grad[:, [0, 1, 3, 5]] == 0).all()
    assert (logits.grad[:, present] != 0).all()


def test_loss_is_masked_new_batch_ce_plus_full_memory_ce(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: a memory of classes 0-1 (offered after the fit), then one step on classes 2-3
    er_ace = ERACE(
        make_model(),
        ERACEParams(memory_size=16, memory_batch_size=6, memory_update="after_fit"),
        TrainingConfig(batch_size=8, epochs=1),
        CPU,
    )
    er_ace.fit(make_experience([0, 1], per_class=12, seed=0))
    memory = {name: values.clone() for name, values in er_ace.buffer.fields.items()}
    new = make_experience([2, 3], per_class=4, seed=1)
    calls = record_forwards(er_ace.model)

    # when
    report = er_ace.fit(new)

    # then: L_ce(new; {2, 3}) + L_ce(memory; all classes), from what the forward saw
    assert report.steps == 1 and len(calls) == 1  # no BatchNorm: one forward over both
    inputs, outputs = calls[0]
    y = new.y[row_index(inputs[:8], new.x)]
    y_memory = memory["y"][row_index(inputs[8:], memory["x"])]
    masked = outputs[:8].clone()
    masked[:, [0, 1, 4, 5]] = torch.finfo(masked.dtype).min
    expected = F.cross_entropy(masked, y) + F.cross_entropy(outputs[8:], y_memory)
    torch.testing.assert_close(torch.tensor(report.loss_curve[0]), expected, rtol=1e-6, atol=0)


def test_before_fit_replays_the_current_chunk_from_the_first_step(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: the default memory update
    er_ace = ERACE(make_model(), ERACEParams(memory_size=64), TrainingConfig(batch_size=8), CPU)
    first = make_experience([0, 1], per_class=12, seed=0)
    calls = record_forwards(er_ace.model)

    # when
    er_ace.fit(first)

    # then: every step replays 8 rows of the chunk itself, which the memory already holds
    assert er_ace.params.memory_update == "before_fit"
    assert [x.shape[0] for x, _ in calls] == [16, 16, 16]
    assert all(((x[8:, None, :] == first.x[None]).all(-1).sum(1) == 1).all() for x, _ in calls)
    assert len(er_ace.buffer) == 24


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"memory_size": 0}, "memory_size"),
        ({"memory_size": 10**7}, "memory_size"),
        ({"memory_batch_size": 0}, "memory_batch_size"),
        ({"memory_update": "sometimes"}, "memory_update"),
        ({"memory_policy": "fifo"}, "memory_policy"),
    ],
)
def test_bad_hyperparameter_is_rejected_naming_the_field(
    params: dict[str, object], field: str, make_model: Callable[..., torch.nn.Module]
) -> None:
    # when
    with pytest.raises(ValidationError) as from_api:
        validate_updater({"name": "er_ace", "params": params})
    with pytest.raises(ValidationError) as from_worker:
        build_updater(
            UpdaterSpec(name="er_ace", params=params), make_model(), TrainingConfig(), CPU
        )

    # then
    assert from_api.value.errors()[0]["loc"] == ("params", field)
    assert field in str(from_worker.value)
