"""The one place that maps an updater name to its implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from app.schemas.updaters import PARAMS_BY_UPDATER, TrainingConfig, UpdaterSpec
from worker.updaters.agem import AGEM
from worker.updaters.der import DER
from worker.updaters.er import ER
from worker.updaters.er_ace import ERACE
from worker.updaters.gem import GEM
from worker.updaters.naive import Naive
from worker.updaters.protocol import Updater, UpdaterState
from worker.updaters.rwalk import RWalk

UpdaterFactory = Callable[[nn.Module, Any, TrainingConfig, torch.device], Updater]

UPDATERS: dict[str, UpdaterFactory] = {
    "naive": Naive,
    "er": ER,
    "der": DER,
    "gem": GEM,
    "agem": AGEM,
    "rwalk": RWalk,
    "er_ace": ERACE,
}


def build_updater(
    spec: UpdaterSpec,
    model: nn.Module,
    training: TrainingConfig,
    device: torch.device,
    state: UpdaterState | None = None,
) -> Updater:
    """Build the named updater and, if given, restore its saved state."""
    if spec.name not in UPDATERS:
        raise KeyError(f"updater {spec.name!r} is not implemented in this worker")
    params = PARAMS_BY_UPDATER[spec.name].model_validate(spec.params)
    updater = UPDATERS[spec.name](model, params, training, device)
    if state is not None:
        updater.load_state_dict(state)
    return updater
