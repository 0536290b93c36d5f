"""Every updater on a CUDA device with bf16 autocast, on an MLP and on a BatchNorm
ResNet-18 (DER's and ER-ACE's separate forwards, the class-balanced memory on the
device): finite losses and an exact state round trip."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from app.schemas.updaters import TrainingConfig, UpdaterSpec
from worker.architectures.mlp import MLP
from worker.architectures.resnet import build_resnet18
from worker.updaters.protocol import Experience
from worker.updaters.registry import UPDATERS, build_updater

pytestmark = pytest.mark.gpu

ARCHITECTURES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (lambda: MLP(20, [64], 6), (20,)),
    "resnet18": (
        lambda: build_resnet18({"input_shape": [3, 16, 16], "num_classes": 6, "width": 8}),
        (3, 16, 16),
    ),
}


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_updater_trains_on_cuda_with_autocast(name: str, architecture: str) -> None:
    device = torch.device("cuda")
    torch.manual_seed(0)
    build, shape = ARCHITECTURES[architecture]
    model = build().to(device)
    training = TrainingConfig(epochs=2, batch_size=16, lr=0.05, mixed_precision=True)
    updater = build_updater(UpdaterSpec(name=name).normalized(), model, training, device)
    for k in range(3):
        x = torch.randn(128, *shape, device=device)
        y = torch.randint(2 * k, 2 * k + 2, (128,), device=device)
        report = updater.fit(Experience(x, y))
        assert all(torch.isfinite(torch.tensor(report.loss_curve)))
    state = updater.state_dict()
    rebuilt = build_updater(UpdaterSpec(name=name).normalized(), model, training, device, state)
    again = rebuilt.state_dict()
    assert again.meta == state.meta
    for key, tensor in state.tensors.items():
        assert torch.equal(again.tensors[key].cpu(), tensor.cpu()), key
