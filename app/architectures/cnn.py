"""``cnn``: per entry of ``channels`` a 3×3 convolution (padding 1) + ReLU + 2×2 max-pool,
then flatten → Linear(``hidden``) → ReLU → Linear(``num_classes``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.architectures.base import TensorSpec, conv2d, linear

Channels = Annotated[int, Field(ge=1, le=4096)]
Dim = Annotated[int, Field(ge=1, le=4096)]


class CNNParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_shape: list[Dim] = Field(
        ..., min_length=3, max_length=3, description="[C, H, W] of one image."
    )
    num_classes: int = Field(..., ge=2, le=1_000_000)
    channels: list[Channels] = Field(
        default_factory=lambda: [32, 64],
        min_length=1,
        max_length=12,
        description="Output channels of each conv block (each halves H and W).",
    )
    hidden: int = Field(256, ge=1, le=1_000_000, description="Width of the hidden linear layer.")

    @model_validator(mode="after")
    def _pools_fit(self) -> CNNParams:
        _, h, w = self.input_shape
        if min(h, w) >> len(self.channels) < 1:
            raise ValueError(
                f"input_shape: {h}×{w} images are too small for {len(self.channels)} 2×2 "
                f"max-pools (each halves H and W); use fewer channels entries"
            )
        return self


def flat_features(params: CNNParams) -> int:
    """Features after the last pool (MaxPool2d(2) floors odd sizes)."""
    _, h, w = params.input_shape
    k = len(params.channels)
    return params.channels[-1] * (h >> k) * (w >> k)


class CNN:
    params = CNNParams
    description = "Conv 3×3 + ReLU + 2×2 max-pool per channels entry, then a hidden linear layer."

    def input_shape(self, params: CNNParams) -> tuple[int, ...]:
        return tuple(params.input_shape)

    def num_classes(self, params: CNNParams) -> int:
        return params.num_classes

    def state_dict(self, params: CNNParams) -> dict[str, TensorSpec]:
        # features: [Conv2d, ReLU, MaxPool2d] per block; classifier: [Flatten, Linear,
        # ReLU, Linear].
        tensors: dict[str, TensorSpec] = {}
        c_in = params.input_shape[0]
        for i, c_out in enumerate(params.channels):
            tensors |= conv2d(f"features.{3 * i}", c_in, c_out, 3)
            c_in = c_out
        tensors |= linear("classifier.1", flat_features(params), params.hidden)
        tensors |= linear("classifier.3", params.hidden, params.num_classes)
        return tensors
