"""The built-in ``cnn``: [3×3 conv (padding 1) → ReLU → 2×2 max-pool] per entry of
``channels``, then flatten → Linear(``hidden``) → ReLU → Linear(``num_classes``).

Tensor names match ``app.architectures.cnn.CNN.state_dict`` (a test checks it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from app.architectures.cnn import CNNParams, flat_features

Params = CNNParams


class CNN(nn.Module):
    def __init__(self, params: CNNParams) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = params.input_shape[0]
        for c_out in params.channels:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat_features(params), params.hidden),
            nn.ReLU(),
            nn.Linear(params.hidden, params.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(params: CNNParams) -> CNN:
    return CNN(params)


def build_cnn(params: dict[str, Any]) -> CNN:
    """From a params dict (defaults filled in by ``CNNParams``)."""
    return build(CNNParams.model_validate(params))
