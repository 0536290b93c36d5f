"""The built-in ``mlp``: Linear → ReLU → ... → Linear, returning logits.

Parameter names (``layers.{i}.weight``) match ``app.architectures.initial_weights``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from app.architectures import mlp_layer_sizes


class MLP(nn.Module):
    def __init__(self, input_dim: int, hidden: list[int], num_classes: int) -> None:
        super().__init__()
        params = {"input_dim": input_dim, "hidden": hidden, "num_classes": num_classes}
        layers: list[nn.Module] = []
        for fan_in, fan_out in mlp_layer_sizes(params):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        self.layers = nn.Sequential(*layers[:-1])  # no ReLU after the output layer

    def forward(self, x: Any) -> Any:
        return self.layers(x)


def build_mlp(params: dict[str, Any]) -> MLP:
    return MLP(
        int(params["input_dim"]), [int(h) for h in params["hidden"]], int(params["num_classes"])
    )
