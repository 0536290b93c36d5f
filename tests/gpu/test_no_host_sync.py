"""No host sync inside a training step: every updater's steps run under
``torch.cuda.set_sync_debug_mode("error")``, which raises on any synchronising CUDA call
(``.item()``, a blocking device-to-host copy, ``nonzero``, a bool of a CUDA tensor).

The loop's own syncs (the loss curve at the end of ``fit``) and what a fit does once
around its steps are outside the checked region: ``run_epochs`` is wrapped, in every
updater module that imported it, so that the mode is on only while a step runs. GEM is
checked with as many past experiences as its on-device dual solver takes
(``gem_qp_device``), and with one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from torch import nn

from app.schemas.updaters import TrainingConfig, UpdaterSpec
from worker.architectures.mlp import MLP
from worker.updaters import training_loop
from worker.updaters.gem_qp_device import MAX_ENUMERATED
from worker.updaters.protocol import Experience
from worker.updaters.registry import UPDATERS, build_updater

pytestmark = pytest.mark.gpu

SETTINGS: dict[str, dict[str, Any]] = {
    "er": {"memory_size": 64},
    "der": {"memory_size": 64, "beta": 0.5},
    "er_ace": {"memory_size": 64},
    "gem": {"patterns_per_experience": 16},
    "agem": {"patterns_per_experience": 16, "sample_size": 16},  # B_M: a draw from 32
    "rwalk": {"memory_size": 64, "delta_t": 2},
}


@contextmanager
def sync_errors_inside_steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Turns the sync debug mode to "error" around each updater's ``run_epochs``; yields
    the number of checked fits so far (in a list, to be read after)."""
    checked = [0]

    def wrap(run: Callable[..., Any]) -> Callable[..., Any]:
        def checked_run(
            model: nn.Module, experience: Experience, training: TrainingConfig, *rest: Any
        ) -> Any:
            step = rest[1]

            def strict_step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                torch.cuda.set_sync_debug_mode("error")
                try:
                    return step(x, y)
                finally:
                    torch.cuda.set_sync_debug_mode("default")

            checked[0] += 1
            return run(model, experience, training, rest[0], strict_step, *rest[2:])

        return checked_run

    strict_run = wrap(training_loop.run_epochs)
    for name, module in list(sys.modules.items()):  # every updater module that imported it
        if name.startswith("worker.updaters.") and hasattr(module, "run_epochs"):
            monkeypatch.setattr(module, "run_epochs", strict_run)
    yield checked


def chunk(k: int, device: torch.device) -> Experience:
    generator = torch.Generator(device=device).manual_seed(k)
    x = torch.randn(64, 20, device=device, generator=generator)
    return Experience(x, torch.randint(2 * k, 2 * k + 2, (64,), device=device, generator=generator))


@pytest.mark.parametrize("name", sorted(UPDATERS))
def test_a_training_step_never_syncs_with_the_host(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: an updater with a filled memory (GEM: as many past experiences as its
    # on-device dual solver takes; the replay memories: their default policy)
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = MLP(20, [64, 64], 2 * (MAX_ENUMERATED["cuda"] + 2)).to(device)
    training = TrainingConfig(epochs=1, batch_size=16, lr=0.05, mixed_precision=True)
    spec = UpdaterSpec(name=name, params=SETTINGS.get(name, {}))
    updater = build_updater(spec.normalized(), model, training, device)
    past = MAX_ENUMERATED["cuda"] if name == "gem" else 2
    for k in range(past):
        updater.fit(chunk(k, device))

    # when: a chunk's steps run with every host sync an error
    with sync_errors_inside_steps(monkeypatch) as checked:
        report = updater.fit(chunk(past, device))

    # then
    assert checked[0] == 1 and report.steps == 4
    assert all(torch.isfinite(torch.tensor(report.loss_curve)))


def test_gem_with_one_past_experience_never_syncs(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = MLP(20, [64], 4).to(device)
    training = TrainingConfig(epochs=1, batch_size=16, lr=0.05)
    spec = UpdaterSpec(name="gem", params={"patterns_per_experience": 16})
    updater = build_updater(spec.normalized(), model, training, device)
    updater.fit(chunk(0, device))

    # when
    with sync_errors_inside_steps(monkeypatch) as checked:
        report = updater.fit(chunk(1, device))

    # then
    assert checked[0] == 1 and 0.0 <= report.extra["projected_fraction"] <= 1.0
