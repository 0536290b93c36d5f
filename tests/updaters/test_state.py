"""Every registered updater: its state round-trips exactly through the service's files
(safetensors + JSON), a run split across two processes' worth of save/load equals an
uninterrupted one bit for bit, and no result depends on the global RNGs.

Parametrized over ``registry.UPDATERS``, so an updater registered later is covered
without editing this file. ``SMALL_SETTINGS`` only keeps memories small enough that the
two experiences below exercise them (full buffers, several steps); an updater missing
from it runs with its defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from app.schemas.updaters import PARAMS_BY_UPDATER, TrainingConfig, UpdaterSpec
from worker.updaters.protocol import Experience, StateMismatch, Updater, UpdaterState
from worker.updaters.registry import UPDATERS, build_updater
from worker.updaters.state_io import load_state, save_state

CPU = torch.device("cpu")
SMALL_SETTINGS: dict[str, dict[str, Any]] = {
    "er": {"memory_size": 20, "memory_batch_size": 6},
    "der": {"memory_size": 20, "alpha": 0.4, "beta": 0.6},
    "gem": {"patterns_per_experience": 10},
    "agem": {"patterns_per_experience": 10, "sample_size": 6},
    "rwalk": {"memory_size": 20, "delta_t": 3},
    "er_ace": {"memory_size": 20, "memory_batch_size": 6},
}
TRAINING = TrainingConfig(batch_size=8, epochs=2, lr=0.05, momentum=0.9, seed=17)


def spec_for(name: str) -> UpdaterSpec:
    params = PARAMS_BY_UPDATER[name].model_validate(SMALL_SETTINGS.get(name, {}))
    return UpdaterSpec(name=name, params=params.model_dump())  # type: ignore[arg-type]


def assert_same_state(actual: UpdaterState, expected: UpdaterState) -> None:
    assert actual.meta == expected.meta
    assert actual.tensors.keys() == expected.tensors.keys()
    for key, tensor in expected.tensors.items():
        assert actual.tensors[key].dtype == tensor.dtype, key
        assert torch.equal(actual.tensors[key].cpu(), tensor.cpu()), key


def assert_same_weights(actual: torch.nn.Module, expected: torch.nn.Module) -> None:
    expected_weights = expected.state_dict()
    for key, tensor in actual.state_dict().items():
        assert torch.equal(tensor, expected_weights[key]), key


def two_experiences(
    make_experience: Callable[..., Experience],
) -> tuple[Experience, Experience]:
    # 36 samples in batches of 8: a short last batch, and more samples than memory slots
    return (
        make_experience([0, 1], per_class=18, seed=0),
        make_experience([2, 3], per_class=18, seed=1),
    )


@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_state_round_trips_exactly_through_safetensors_and_json(
    name: str,
    tmp_path: Path,
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: an updater with a non-trivial state
    updater = build_updater(spec_for(name), make_model(), TRAINING, CPU)
    for experience in two_experiences(make_experience):
        updater.fit(experience)
    state = updater.state_dict()

    # when: saved to files, loaded, restored into a fresh updater and saved again
    save_state(state, tmp_path / "state.safetensors", tmp_path / "state.json")
    loaded = load_state(tmp_path / "state.safetensors", tmp_path / "state.json", CPU)
    rebuilt = build_updater(spec_for(name), make_model(seed=5), TRAINING, CPU, loaded)

    # then
    assert_same_state(loaded, state)
    assert_same_state(rebuilt.state_dict(), state)


@pytest.mark.usefixtures("deterministic")
@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_training_in_chunks_with_save_and_load_between_equals_one_uninterrupted_run(
    name: str,
    tmp_path: Path,
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: an uninterrupted run over A then B
    a, b = two_experiences(make_experience)
    uninterrupted_model = make_model()
    uninterrupted = build_updater(spec_for(name), uninterrupted_model, TRAINING, CPU)
    uninterrupted.fit(a)
    uninterrupted.fit(b)

    # when: A, then weights and state to files, then a fresh model and updater from them, B
    first_model = make_model()
    first = build_updater(spec_for(name), first_model, TRAINING, CPU)
    first.fit(a)
    save_file(first_model.state_dict(), str(tmp_path / "weights.safetensors"))
    save_state(first.state_dict(), tmp_path / "state.safetensors", tmp_path / "state.json")
    del first, first_model
    model = make_model(seed=99)
    model.load_state_dict(load_file(str(tmp_path / "weights.safetensors")))
    state = load_state(tmp_path / "state.safetensors", tmp_path / "state.json", CPU)
    resumed = build_updater(spec_for(name), model, TRAINING, CPU, state)
    resumed.fit(b)

    # then: every weight and every state tensor is identical
    assert_same_weights(model, uninterrupted_model)
    assert_same_state(resumed.state_dict(), uninterrupted.state_dict())


@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_results_do_not_depend_on_the_global_rngs(
    name: str,
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: two identical updaters, the process's global RNGs seeded differently before each
    a, b = two_experiences(make_experience)
    runs: list[tuple[torch.nn.Module, Updater]] = []
    numpy_state = np.random.get_state()

    # when
    with torch.random.fork_rng(devices=[]):
        for global_seed in (1, 2):
            torch.manual_seed(global_seed)
            np.random.seed(global_seed)
            model = make_model()
            updater = build_updater(spec_for(name), model, TRAINING, CPU)
            updater.fit(a)
            updater.fit(b)
            runs.append((model, updater))
    np.random.set_state(numpy_state)

    # then
    (model_1, updater_1), (model_2, updater_2) = runs
    assert_same_weights(model_1, model_2)
    assert_same_state(updater_1.state_dict(), updater_2.state_dict())


@pytest.mark.parametrize("name", ["er", "der", "rwalk"])
def test_a_memory_of_another_size_is_a_state_mismatch(
    name: str,
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: the state of an updater whose reservoir holds 20 items
    updater = build_updater(spec_for(name), make_model(), TRAINING, CPU)
    updater.fit(two_experiences(make_experience)[0])
    state = updater.state_dict()
    bigger = spec_for(name).model_copy(
        update={"params": {**spec_for(name).params, "memory_size": 30}}
    )

    # when / then: restoring it with memory_size 30 says the state does not fit
    with pytest.raises(StateMismatch, match="memory_size"):
        build_updater(bigger, make_model(), TRAINING, CPU, state)


def test_rwalk_state_of_another_model_is_a_state_mismatch(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: RWalk state of a model with one hidden layer
    updater = build_updater(spec_for("rwalk"), make_model(), TRAINING, CPU)
    updater.fit(two_experiences(make_experience)[0])

    # when / then: a model with two hidden layers cannot take it
    with pytest.raises(StateMismatch, match="other parameters"):
        build_updater(
            spec_for("rwalk"), make_model(hidden=(16, 16)), TRAINING, CPU, updater.state_dict()
        )


def test_a_corrupt_memory_is_an_error_but_not_a_state_mismatch(
    make_model: Callable[..., torch.nn.Module],
    make_experience: Callable[..., Experience],
) -> None:
    # given: an ER state whose counters claim fewer items than it stores
    updater = build_updater(spec_for("er"), make_model(), TRAINING, CPU)
    updater.fit(two_experiences(make_experience)[0])
    state = updater.state_dict()
    state.meta["buffer"] = {**state.meta["buffer"], "seen": 5}

    # when
    with pytest.raises(ValueError) as caught:
        build_updater(spec_for("er"), make_model(), TRAINING, CPU, state)

    # then: a plain ValueError, which the job runner does not take for a misfit
    assert not isinstance(caught.value, StateMismatch)
    assert "rows" in str(caught.value)
