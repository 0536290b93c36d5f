"""Every updater on models with BatchNorm (and on the built-in CNN and ResNet-18): chunked ==
uninterrupted bit for bit with the running statistics saved as weights; training in train
mode, evaluation in eval mode; DER's and ER-ACE's batches forwarded each on its own; DER's
after-fit logits from the trained model in eval mode; GEM's and A-GEM's reference
gradients and RWalk's Fisher from train-mode forwards, as the papers' code does."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from app.schemas.updaters import (
    PARAMS_BY_UPDATER,
    AGEMParams,
    DERParams,
    GEMParams,
    RWalkParams,
    TrainingConfig,
    UpdaterSpec,
)
from worker.architectures.cnn import build_cnn
from worker.architectures.resnet import build_resnet18
from worker.evaluation import accuracy
from worker.updaters import agem, gem
from worker.updaters.batch_forward import has_batch_coupled_layers
from worker.updaters.der import DER
from worker.updaters.protocol import Experience
from worker.updaters.registry import UPDATERS, build_updater
from worker.updaters.rwalk import RWalk
from worker.updaters.state_io import load_state, save_state

CPU = torch.device("cpu")
NUM_CLASSES = 6
IMAGE = (1, 6, 6)
SMALL_SETTINGS: dict[str, dict[str, Any]] = {
    "er": {"memory_size": 20, "memory_batch_size": 6},
    "der": {"memory_size": 20, "alpha": 0.4, "beta": 0.6},
    "er_ace": {"memory_size": 20, "memory_batch_size": 6},
    "gem": {"patterns_per_experience": 10},
    "agem": {"patterns_per_experience": 10, "sample_size": 6},
    "rwalk": {"memory_size": 20, "delta_t": 3},
}
TRAINING = TrainingConfig(batch_size=8, epochs=2, lr=0.05, momentum=0.9, seed=17)


def bn_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, NUM_CLASSES)
    )


ARCHITECTURES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "bn_mlp": (bn_mlp, (8,)),
    "cnn": (
        lambda: build_cnn(
            {"input_shape": list(IMAGE), "num_classes": NUM_CLASSES, "channels": [4], "hidden": 8}
        ),
        IMAGE,
    ),
    "resnet18": (
        lambda: build_resnet18(
            {"input_shape": list(IMAGE), "num_classes": NUM_CLASSES, "width": 2}
        ),
        IMAGE,
    ),
}


def seeded(architecture: str, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHITECTURES[architecture][0]()


def experience(architecture: str, classes: list[int], per_class: int, seed: int) -> Experience:
    """``per_class`` samples of each class around fixed class means, in the input shape."""
    shape = ARCHITECTURES[architecture][1]
    means = 2.0 * torch.randn(NUM_CLASSES, *shape, generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(seed)
    y = torch.tensor(classes).repeat_interleave(per_class)
    y = y[torch.randperm(y.shape[0], generator=generator)]
    return Experience(means[y] + torch.randn(y.shape[0], *shape, generator=generator), y)


def spec_for(name: str) -> UpdaterSpec:
    params = PARAMS_BY_UPDATER[name].model_validate(SMALL_SETTINGS.get(name, {}))
    return UpdaterSpec(name=name, params=params.model_dump())  # type: ignore[arg-type]


def record_forwards(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor, bool]]:
    """(input, output, train mode) of every forward call of ``model`` from now on."""
    calls: list[tuple[torch.Tensor, torch.Tensor, bool]] = []
    model.register_forward_hook(
        lambda m, args, out: calls.append((args[0].detach(), out.detach().clone(), m.training))
    )
    return calls


@pytest.mark.usefixtures("deterministic")
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_chunked_equals_uninterrupted_with_running_statistics(
    name: str, architecture: str, tmp_path: Path
) -> None:
    # given: an uninterrupted run over A then B (36 samples: a short last batch)
    a = experience(architecture, [0, 1], 18, seed=0)
    b = experience(architecture, [2, 3], 18, seed=1)
    uninterrupted_model = seeded(architecture)
    uninterrupted = build_updater(spec_for(name), uninterrupted_model, TRAINING, CPU)
    uninterrupted.fit(a)
    uninterrupted.fit(b)

    # when: A, then weights (running statistics included) and state through files, then B
    first_model = seeded(architecture)
    first = build_updater(spec_for(name), first_model, TRAINING, CPU)
    first.fit(a)
    save_file(first_model.state_dict(), str(tmp_path / "weights.safetensors"))
    save_state(first.state_dict(), tmp_path / "state.safetensors", tmp_path / "state.json")
    model = seeded(architecture, seed=99)
    model.load_state_dict(load_file(str(tmp_path / "weights.safetensors")))
    state = load_state(tmp_path / "state.safetensors", tmp_path / "state.json", CPU)
    resumed = build_updater(spec_for(name), model, TRAINING, CPU, state)
    resumed.fit(b)

    # then: every weight and buffer, and every state tensor, identical
    expected = uninterrupted_model.state_dict()
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, expected[key]), key
    again, reference = resumed.state_dict(), uninterrupted.state_dict()
    assert again.meta == reference.meta
    for key, tensor in reference.tensors.items():
        assert torch.equal(again.tensors[key], tensor), key


@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_training_runs_in_train_mode_and_moves_the_running_statistics(name: str) -> None:
    # given: an updater that has learned a first experience
    model = seeded("bn_mlp")
    updater = build_updater(spec_for(name), model, TrainingConfig(batch_size=8), CPU)
    updater.fit(experience("bn_mlp", [0, 1], 12, seed=0))
    running_mean = model[1].running_mean.clone()
    calls = record_forwards(model)

    # when
    updater.fit(experience("bn_mlp", [2, 3], 12, seed=1))

    # then: every training forward in train mode (only DER's after-fit logits, at the
    # end, in eval mode), the running statistics moved, and the model left in train mode
    modes = [train for _, _, train in calls]
    assert modes[0] and modes == sorted(modes, reverse=True)
    assert all(modes) or name == "der"
    assert not torch.equal(model[1].running_mean, running_mean)
    assert model.training


def test_a_lone_last_sample_joins_the_batch_before_it_only_for_batchnorm_models() -> None:
    # given: 33 samples, batch 8
    data = experience("bn_mlp", [0, 1, 2], 11, seed=0)
    with_bn = build_updater(spec_for("naive"), seeded("bn_mlp"), TrainingConfig(batch_size=8), CPU)
    plain_model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, NUM_CLASSES))
    plain = build_updater(spec_for("naive"), plain_model, TrainingConfig(batch_size=8), CPU)
    sizes: list[int] = []
    with_bn.model.register_forward_hook(lambda _m, args, _o: sizes.append(args[0].shape[0]))

    # when
    bn_report, plain_report = with_bn.fit(data), plain.fit(data)

    # then: four steps (8, 8, 8, 9) with BatchNorm, five (8, 8, 8, 8, 1) without
    assert sorted(sizes) == [8, 8, 8, 9]
    assert (bn_report.steps, plain_report.steps) == (4, 5)


def test_evaluation_uses_running_statistics_and_restores_train_mode() -> None:
    # given: a trained BatchNorm model
    model = seeded("bn_mlp")
    data = experience("bn_mlp", [0, 1, 2, 3], 10, seed=0)
    build_updater(spec_for("naive"), model, TrainingConfig(batch_size=8, epochs=3), CPU).fit(data)

    # when
    measured = accuracy(model, data.x, data.y, TrainingConfig())

    # then: eval-mode predictions, and the model back in train mode
    model.eval()
    with torch.no_grad():
        expected = float((model(data.x).argmax(1) == data.y).float().mean())
    model.train()
    assert measured == pytest.approx(expected)
    assert model.training


@pytest.mark.parametrize("name", ["der", "er_ace"])
def test_with_batchnorm_new_and_memory_batches_have_forwards_of_their_own(name: str) -> None:
    # given: a full memory, a BatchNorm model
    model = seeded("bn_mlp")
    params = {"memory_size": 16, "memory_batch_size": 6, "memory_policy": "reservoir"}
    if name == "der":
        params |= {"beta": 0.5, "logits": "training"}
    else:
        params |= {"memory_update": "after_fit"}
    updater = build_updater(
        UpdaterSpec(name=name, params=params), model, TrainingConfig(batch_size=8), CPU
    )
    assert has_batch_coupled_layers(model)
    updater.fit(experience("bn_mlp", [0, 1], 12, seed=0))
    calls = record_forwards(model)

    # when: one step
    updater.fit(experience("bn_mlp", [2, 3], 4, seed=1))

    # then: the new batch alone, then each memory batch alone
    expected = [8, 6, 6] if name == "der" else [8, 6]
    assert [x.shape[0] for x, _, _ in calls] == expected
    assert all(train for _, _, train in calls)


def test_der_training_logits_are_those_of_the_new_batch_forward_alone() -> None:
    # given: DER++ with training logits on a BatchNorm model, room for everything
    model = seeded("bn_mlp")
    der = DER(
        model,
        DERParams(memory_size=64, beta=0.5, logits="training"),
        TrainingConfig(batch_size=8),
        CPU,
    )
    data = experience("bn_mlp", [0, 1], 16, seed=0)
    calls = record_forwards(model)

    # when
    der.fit(data)

    # then: the first step has nothing to replay, the other three forward the new batch,
    # then each memory batch, alone; each stored row's logits are its batch's own forward
    assert [x.shape[0] for x, _, _ in calls] == [8] + [8, 8, 8] * 3
    new_batches = [(x, z) for x, z, _ in [calls[0], *calls[1::3]]]
    stored = der.buffer.state_dict().tensors
    assert torch.equal(stored["buffer.x"], torch.cat([x for x, _ in new_batches]))
    assert torch.equal(stored["buffer.logits"], torch.cat([z for _, z in new_batches]))


def test_der_after_fit_logits_are_the_trained_model_in_eval_mode() -> None:
    # given: DER's default logits on a BatchNorm model
    model = seeded("bn_mlp")
    der = DER(model, DERParams(memory_size=12), TrainingConfig(batch_size=8, epochs=2), CPU)
    data = experience("bn_mlp", [0, 1], 16, seed=0)

    # when
    der.fit(data)

    # then: z = f(x) in eval mode (running statistics) after training; train mode kept
    assert der.params.logits == "after_fit"
    assert model.training
    stored = der.buffer.state_dict().tensors
    model.eval()
    with torch.no_grad():
        expected = model(stored["buffer.x"])
    model.train()
    torch.testing.assert_close(stored["buffer.logits"], expected, rtol=0, atol=1e-6)
    with torch.no_grad():
        train_mode = copy.deepcopy(model).train()(stored["buffer.x"])
    assert not torch.allclose(train_mode, expected, atol=1e-3)  # the two modes differ here


@pytest.mark.parametrize("name", ["gem", "agem"])
def test_reference_gradients_come_from_a_train_mode_forward_of_the_memory_alone(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a memory of 6 patterns (A-GEM: sample_size 6, so B_M is all of it)
    model = seeded("bn_mlp")
    training = TrainingConfig(batch_size=8)
    if name == "gem":
        updater: Any = gem.GEM(model, GEMParams(patterns_per_experience=6), training, CPU)
    else:
        params = AGEMParams(patterns_per_experience=6, sample_size=6)
        updater = agem.AGEM(model, params, training, CPU)
    updater.fit(experience("bn_mlp", [0, 1], 8, seed=0))
    module = gem if name == "gem" else agem
    seen: list[torch.Tensor] = []
    original = module.project_gradient

    def spy(first: torch.Tensor, second: torch.Tensor, *rest: Any) -> Any:
        seen.append((first if name == "gem" else second).clone())
        return original(first, second, *rest)

    monkeypatch.setattr(module, "project_gradient", spy)
    before = copy.deepcopy(model).train()
    memory_x = updater.memory_x[0] if name == "gem" else updater.memory_x
    memory_y = updater.memory_y[0] if name == "gem" else updater.memory_y

    # when: one step
    updater.fit(experience("bn_mlp", [2, 3], 4, seed=1))

    # then: g_ref = ∇ CE(f(M), y_M) with f in train mode on M alone, at the step's θ
    loss = F.cross_entropy(before(memory_x), memory_y)
    expected = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(loss, list(before.parameters()))]
    )
    reference = seen[0][0] if name == "gem" else seen[0]
    torch.testing.assert_close(reference.to(expected.dtype), expected, rtol=1e-5, atol=1e-7)


def test_rwalk_fisher_comes_from_the_train_mode_gradient_of_the_step() -> None:
    # given: one full-batch step on a BatchNorm model
    model = seeded("bn_mlp")
    rwalk = RWalk(model, RWalkParams(ewc_alpha=0.5), TrainingConfig(batch_size=8), CPU)
    data = experience("bn_mlp", [0, 1], 4, seed=0)
    before = copy.deepcopy(model).train()

    # when
    rwalk.fit(data)

    # then: F = α·g² with g the train-mode gradient (the batch's own statistics)
    loss = F.cross_entropy(before(data.x), data.y)
    for f, g in zip(
        rwalk.fisher, torch.autograd.grad(loss, list(before.parameters())), strict=True
    ):
        torch.testing.assert_close(f, 0.5 * g**2, rtol=1e-5, atol=1e-9)
