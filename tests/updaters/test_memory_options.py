"""Every memory option of every replay method (policy, when samples are offered, DER's
logits): a run split by a save/load through the service's files equals an uninterrupted
one bit for bit, and the memory ends up as the option says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from app.schemas.updaters import TrainingConfig, UpdaterSpec
from worker.updaters.protocol import Experience, StateMismatch
from worker.updaters.registry import build_updater
from worker.updaters.state_io import load_state, save_state

CPU = torch.device("cpu")
TRAINING = TrainingConfig(batch_size=8, epochs=2, lr=0.05, seed=5)
POLICIES = ("reservoir", "class_balanced")
OPTIONS: list[tuple[str, dict[str, Any]]] = [
    *[
        (name, {"memory_policy": policy, "memory_update": update})
        for name in ("er", "er_ace", "rwalk")
        for policy in POLICIES
        for update in ("after_fit", "before_fit", "last_epoch")
    ],
    *[
        ("der", {"memory_policy": policy, "logits": logits, "beta": 0.5})
        for policy in POLICIES
        for logits in ("after_fit", "training")
    ],
]


def spec(name: str, options: dict[str, Any]) -> UpdaterSpec:
    return UpdaterSpec(name=name, params={"memory_size": 14, "memory_batch_size": 5, **options})


@pytest.mark.usefixtures("deterministic")
@pytest.mark.parametrize(("name", "options"), OPTIONS)
def test_split_run_equals_uninterrupted_for_every_memory_option(
    name: str,
    options: dict[str, Any],
    tmp_path: Path,
    make_model: Callable[..., torch.nn.Module],
    make_stream: Callable[..., list[Experience]],
) -> None:
    # given: three experiences; the uninterrupted run
    a, b, c = make_stream(per_class=10, seed=1)
    whole_model = make_model()
    whole = build_updater(spec(name, options), whole_model, TRAINING, CPU)
    for experience in (a, b, c):
        whole.fit(experience)

    # when: A and B, then weights and state through files, then C in a fresh updater
    first_model = make_model()
    first = build_updater(spec(name, options), first_model, TRAINING, CPU)
    first.fit(a)
    first.fit(b)
    save_file(first_model.state_dict(), str(tmp_path / "w.safetensors"))
    save_state(first.state_dict(), tmp_path / "s.safetensors", tmp_path / "s.json")
    model = make_model(seed=3)
    model.load_state_dict(load_file(str(tmp_path / "w.safetensors")))
    state = load_state(tmp_path / "s.safetensors", tmp_path / "s.json", CPU)
    resumed = build_updater(spec(name, options), model, TRAINING, CPU, state)
    resumed.fit(c)

    # then
    expected = whole_model.state_dict()
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, expected[key]), key
    again, reference = resumed.state_dict(), whole.state_dict()
    assert again.meta == reference.meta
    for key, tensor in reference.tensors.items():
        assert torch.equal(again.tensors[key], tensor), key


@pytest.mark.parametrize("name", ["er", "der", "er_ace"])
def test_the_class_balanced_default_holds_an_equal_share_of_each_class_seen(
    name: str,
    make_model: Callable[..., torch.nn.Module],
    make_stream: Callable[..., list[Experience]],
) -> None:
    # given: three experiences of two classes each, 20 samples per class, memory 14
    updater = build_updater(
        UpdaterSpec(name=name, params={"memory_size": 14}), make_model(), TRAINING, CPU
    )

    # when
    for experience in make_stream(per_class=20, seed=2):
        updater.fit(experience)

    # then: 14 over six classes: 3, 3, 2, 2, 2, 2 (the two spare slots to classes holding most)
    buffer: Any = updater.buffer  # type: ignore[attr-defined]
    counts = torch.bincount(buffer.fields["y"], minlength=6).tolist()
    assert sorted(counts, reverse=True) == [3, 3, 2, 2, 2, 2]


def test_changing_the_memory_policy_of_a_saved_state_is_a_state_mismatch(
    make_model: Callable[..., torch.nn.Module],
    make_stream: Callable[..., list[Experience]],
) -> None:
    # given: ER state with a reservoir
    er = build_updater(spec("er", {"memory_policy": "reservoir"}), make_model(), TRAINING, CPU)
    er.fit(make_stream(per_class=10, seed=1)[0])

    # when / then: the job runner then starts fresh (and reports state_reset)
    with pytest.raises(StateMismatch, match="memory_policy"):
        build_updater(
            spec("er", {"memory_policy": "class_balanced"}),
            make_model(),
            TRAINING,
            CPU,
            er.state_dict(),
        )
