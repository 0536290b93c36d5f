"""The built-in ``mlp``: Linear → ReLU → ... → Linear, returning logits."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from app.architectures.mlp import MLPParams, layer_sizes

Params = MLPParams


class MLP(nn.Module):
    def __init__(self, input_dim: int, hidden: list[int], num_classes: int) -> None:
        super().__init__()
        params = MLPParams(input_dim=input_dim, hidden=hidden, num_classes=num_classes)
        layers: list[nn.Module] = []
        for fan_in, fan_out in layer_sizes(params):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        self.layers = nn.Sequential(*layers[:-1])  # no ReLU after the output layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build(params: MLPParams) -> MLP:
    return MLP(params.input_dim, list(params.hidden), params.num_classes)


def build_mlp(params: dict[str, Any]) -> MLP:
    """From a params dict (defaults filled in by ``MLPParams``)."""
    return build(MLPParams.model_validate(params))
