"""Experience Replay: one forward/backward over new + memory samples, each new sample
offered to the reservoir once, less forgetting than naive fine-tuning, validated params."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from pydantic import ValidationError

from app.schemas.updaters import (
    ERParams,
    NaiveParams,
    TrainingConfig,
    UpdaterSpec,
    validate_updater,
)
from worker.updaters.er import ER
from worker.updaters.naive import Naive
from worker.updaters.protocol import Experience
from worker.updaters.registry import build_updater

CPU = torch.device("cpu")


def rows_in(rows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """For each row of ``rows``, how many rows of ``table`` equal it."""
    return (rows[:, None, :] == table[None, :, :]).all(-1).sum(1)


def test_each_step_is_one_forward_and_one_backward_over_new_and_memory_samples(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: a memory already holding a first experience; hooks that watch the model
    training = TrainingConfig(batch_size=8, epochs=2)
    er = ER(make_model(), ERParams(memory_size=64, memory_batch_size=5), training, CPU)
    first = make_experience([0, 1], per_class=16, seed=0)
    er.fit(first)
    memory_before = er.buffer.fields["x"][: len(er.buffer)].clone()
    second = make_experience([2, 3], per_class=16, seed=1)
    forward_inputs: list[torch.Tensor] = []
    backward_calls: list[int] = []
    er.model.register_forward_hook(lambda _m, args, _out: forward_inputs.append(args[0]))
    er.model.layers[-1].weight.register_hook(lambda grad: backward_calls.append(1))

    # when
    report = er.fit(second)

    # then: per step one forward over 8 new + 5 memory rows, and one backward
    assert report.steps == 8
    assert len(forward_inputs) == 8 and sum(backward_calls) == 8
    assert all(batch.shape[0] == 8 + 5 for batch in forward_inputs)
    first_step = forward_inputs[0]
    assert (rows_in(first_step[:8], second.x) == 1).all()
    assert (rows_in(first_step[8:], memory_before) == 1).all()
    assert first_step[8:].unique(dim=0).shape[0] == 5  # distinct memory samples


@pytest.mark.parametrize(
    ("memory_update", "expected"),
    [
        # offered after the chunk: nothing to replay during the first chunk
        ("after_fit", [8, 8, 8]),
        # offered step by step: the first step has nothing, later ones replay min(8, stored)
        ("last_epoch", [8, 16, 16]),
    ],
)
def test_no_memory_is_replayed_while_the_memory_is_empty(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
    memory_update: str,
    expected: list[int],
) -> None:
    # given
    params = ERParams(memory_size=64, memory_update=memory_update)  # type: ignore[arg-type]
    er = ER(make_model(), params, TrainingConfig(batch_size=8), CPU)
    sizes: list[int] = []
    er.model.register_forward_hook(lambda _m, args, _out: sizes.append(args[0].shape[0]))

    # when
    er.fit(make_experience([0, 1], per_class=12, seed=0))

    # then: 24 samples in 3 steps of 8 new samples, plus what the memory held
    assert sizes == expected
    assert len(er.buffer) == 24


def test_each_new_sample_enters_the_stream_once_and_replayed_samples_never_reenter(
    make_model: Callable[..., torch.nn.Module],
    make_stream: Callable[..., list[Experience]],
) -> None:
    # given: three epochs per experience, a memory smaller than the stream
    stream = make_stream(per_class=20, seed=3)
    er = ER(make_model(), ERParams(memory_size=50), TrainingConfig(batch_size=8, epochs=3), CPU)

    # when
    for experience in stream:
        er.fit(experience)

    # then: the reservoir counted each distinct sample once, and holds no duplicates
    all_x = torch.cat([e.x for e in stream])
    all_y = torch.cat([e.y for e in stream])
    stored_x, stored_y = er.buffer.fields["x"], er.buffer.fields["y"]
    assert er.buffer.seen == all_x.shape[0] == 120
    assert stored_x.unique(dim=0).shape[0] == 50
    matches = (stored_x[:, None, :] == all_x[None, :, :]).all(-1)
    assert (matches.sum(1) == 1).all()
    assert torch.equal(stored_y, all_y[matches.float().argmax(1)])


def test_er_forgets_less_than_naive_on_a_class_incremental_stream(
    make_model: Callable[..., torch.nn.Module],
    make_stream: Callable[..., list[Experience]],
    evaluate: Callable[[torch.nn.Module, Experience], float],
) -> None:
    # given: three experiences of two classes each, held-out test data of the same classes
    train, test = make_stream(per_class=50, seed=0), make_stream(per_class=100, seed=7)
    training = TrainingConfig(batch_size=10, epochs=5, lr=0.1)
    naive = Naive(make_model(seed=0), NaiveParams(), training, CPU)
    er = ER(make_model(seed=0), ERParams(memory_size=60), training, CPU)

    # when
    for experience in train:
        naive.fit(experience)
        er.fit(experience)

    # then: on the two earlier experiences ER keeps far more (0.25 to 0.47 over seeds)
    def old_accuracy(model: torch.nn.Module) -> float:
        return sum(evaluate(model, e) for e in test[:-1]) / len(test[:-1])

    assert old_accuracy(er.model) > 0.8
    assert old_accuracy(er.model) - old_accuracy(naive.model) > 0.2
    assert evaluate(er.model, test[-1]) > 0.9  # and still learns the newest one


@pytest.mark.parametrize(
    ("params", "field"),
    [({"memory_size": 0}, "memory_size"), ({"memory_batch_size": 0}, "memory_batch_size")],
)
def test_bad_hyperparameter_is_rejected_naming_the_field(
    params: dict[str, int], field: str, make_model: Callable[..., torch.nn.Module]
) -> None:
    # when
    with pytest.raises(ValidationError) as from_api:
        validate_updater({"name": "er", "params": params})
    with pytest.raises(ValidationError) as from_worker:
        build_updater(UpdaterSpec(name="er", params=params), make_model(), TrainingConfig(), CPU)

    # then
    assert from_api.value.errors()[0]["loc"] == ("params", field)
    assert field in str(from_worker.value)
