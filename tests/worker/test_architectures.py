"""The torch modules of the built-ins against their torch-free records (the tensors the API
checks uploaded weights against), seeded initialisation, and the exported ``.pt2`` program
giving the module's logits in eval mode on any batch size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.architectures import (
    expected_state_dict,
    input_shape,
    num_classes,
    parameter_count,
    validate_architecture,
)
from worker.architectures import build_model, initial_model, installed
from worker.export import export_program
from worker.version_zero import SAFETENSORS_DTYPES

SPECS = [
    {"name": "mlp", "params": {"input_dim": 6, "hidden": [], "num_classes": 3}},
    {"name": "mlp", "params": {"input_dim": 6, "hidden": [7, 3, 4], "num_classes": 3}},
    {"name": "cnn", "params": {"input_shape": [1, 28, 28], "num_classes": 10}},
    {"name": "cnn", "params": {"input_shape": [3, 9, 7], "num_classes": 4, "channels": [5]}},
    {"name": "cnn", "params": {"input_shape": [2, 16, 16], "num_classes": 2, "channels": [3, 4, 5],
                               "hidden": 6}},
    {"name": "resnet18", "params": {"num_classes": 10, "width": 20}},
    {"name": "resnet18", "params": {"input_shape": [1, 12, 12], "num_classes": 3, "width": 2}},
]  # fmt: skip


@pytest.mark.parametrize("raw", SPECS)
def test_the_module_matches_its_torch_free_record(raw: dict) -> None:
    # given
    spec = validate_architecture(raw)

    # when
    model = build_model(spec)

    # then: the same state_dict names, in order, shapes and dtypes, and parameter count
    expected = expected_state_dict(spec)
    assert expected is not None
    actual = model.state_dict()
    assert list(actual) == list(expected)
    for name, tensor in actual.items():
        assert tuple(tensor.shape) == expected[name].shape, name
        assert SAFETENSORS_DTYPES[tensor.dtype] == expected[name].dtype, name
    assert parameter_count(spec) == sum(p.numel() for p in model.parameters())
    # and: a batch (N, *input_shape) gives logits (N, num_classes), batch 1 included
    model.eval()
    for n in (1, 5):
        logits = model(torch.zeros(n, *input_shape(spec)))
        assert logits.shape == (n, num_classes(spec))


def test_resnet18_at_width_64_has_the_usual_cifar_resnet18_size() -> None:
    # The CIFAR ResNet-18 of DER/mammoth (and kuangliu/pytorch-cifar): 11,173,962
    # parameters for 10 classes.
    spec = validate_architecture({"name": "resnet18", "params": {"num_classes": 10}})
    assert parameter_count(spec) == 11_173_962


@pytest.mark.parametrize("raw", [SPECS[1], SPECS[3], SPECS[6]])
def test_initial_weights_are_seeded_and_leave_the_global_rng_alone(raw: dict) -> None:
    # given
    spec = validate_architecture(raw)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()

    # when
    a, b, c = (initial_model(spec, s).state_dict() for s in (1, 1, 2))

    # then
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("raw", [SPECS[1], SPECS[4], SPECS[6]])
def test_the_exported_program_gives_the_modules_eval_logits_on_any_batch(
    raw: dict, tmp_path: Path
) -> None:
    # given: a module whose BatchNorm statistics moved away from their initial values
    spec = validate_architecture(raw)
    model = initial_model(spec, 0)
    model.train()
    with torch.no_grad():
        model(torch.randn(16, *input_shape(spec)) * 2 + 1)
    path = tmp_path / "model.pt2"

    # when
    export_program(model, input_shape(spec), path)
    program = torch.export.load(str(path)).module()

    # then: equal logits to the module in eval mode (BatchNorm on its running stats)
    model.eval()
    for n in (1, 2, 33):
        x = torch.randn(n, *input_shape(spec))
        with torch.no_grad():
            assert torch.allclose(program(x), model(x), rtol=1e-5, atol=1e-6), n
    # and: exporting left the module's mode and weights alone
    assert not model.training


def test_the_worker_announces_every_builtin_with_its_schema() -> None:
    # when
    announced = {a.name: a for a in installed()}

    # then
    for name in ("mlp", "cnn", "resnet18"):
        assert announced[name].source == "builtin"
        assert "num_classes" in announced[name].params_schema["properties"]
