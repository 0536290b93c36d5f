"""``mlp``: Linear → ReLU → ... → Linear on flat feature vectors, returning logits."""

from __future__ import annotations

import itertools
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.architectures.base import TensorSpec, linear

Width = Annotated[int, Field(ge=1, le=1_000_000)]


class MLPParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_dim: int = Field(..., ge=1, le=1_000_000, description="Features per sample.")
    hidden: list[Width] = Field(
        default_factory=lambda: [256, 256], max_length=64, description="Hidden layer widths."
    )
    num_classes: int = Field(..., ge=2, le=1_000_000)


def layer_sizes(params: MLPParams) -> list[tuple[int, int]]:
    """(in, out) of each Linear layer, in order."""
    return list(itertools.pairwise([params.input_dim, *params.hidden, params.num_classes]))


class MLP:
    params = MLPParams
    description = "Fully connected layers with ReLU on flat feature vectors (N, input_dim)."

    def input_shape(self, params: MLPParams) -> tuple[int, ...]:
        return (params.input_dim,)

    def num_classes(self, params: MLPParams) -> int:
        return params.num_classes

    def state_dict(self, params: MLPParams) -> dict[str, TensorSpec]:
        # Linear i sits at index 2*i of the Sequential (a ReLU in between).
        tensors: dict[str, TensorSpec] = {}
        for i, (fan_in, fan_out) in enumerate(layer_sizes(params)):
            tensors |= linear(f"layers.{2 * i}", fan_in, fan_out)
        return tensors
