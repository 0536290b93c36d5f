"""The architectures the API knows, described without torch.

The API never imports torch, yet version 0 (the seeded initial weights) must exist as
soon as a model is registered. So each built-in architecture is described here by its
parameters, its input shape and a numpy initialiser whose tensor names and shapes match
the torch module that ``worker/architectures`` builds (a test loads one into the other
strictly). The initialiser draws every weight and bias from U(-1/sqrt(fan_in),
+1/sqrt(fan_in)), the distribution of torch's default ``nn.Linear`` initialisation.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class MLPParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_dim: int = Field(..., ge=1, le=1_000_000, description="Features per sample.")
    hidden: list[int] = Field(default_factory=lambda: [256, 256], max_length=64)
    num_classes: int = Field(..., ge=2, le=1_000_000)

    def model_post_init(self, __context: Any) -> None:
        for width in self.hidden:
            if width < 1:
                raise ValueError("every hidden width must be >= 1")


class ArchitectureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("mlp", description="Built-in: mlp.")
    params: dict[str, Any] = Field(default_factory=dict)


BUILTIN_PARAMS: dict[str, type[BaseModel]] = {"mlp": MLPParams}


def validate_architecture(raw: Any) -> ArchitectureSpec:
    """Raise ``ValueError``/``ValidationError`` for an unknown name or bad params."""
    spec = ArchitectureSpec.model_validate(raw)
    if spec.name not in BUILTIN_PARAMS:
        raise ValueError(f"unknown architecture {spec.name!r}; known: {sorted(BUILTIN_PARAMS)}")
    params = BUILTIN_PARAMS[spec.name].model_validate(spec.params)
    return ArchitectureSpec(name=spec.name, params=params.model_dump())


def input_shape(spec: ArchitectureSpec) -> tuple[int, ...]:
    if spec.name == "mlp":
        return (int(spec.params["input_dim"]),)
    raise ValueError(spec.name)


def num_classes(spec: ArchitectureSpec) -> int:
    return int(spec.params["num_classes"])


def mlp_layer_sizes(params: dict[str, Any]) -> list[tuple[int, int]]:
    """(in, out) of each Linear layer, in order."""
    sizes = [int(params["input_dim"]), *map(int, params["hidden"]), int(params["num_classes"])]
    return list(itertools.pairwise(sizes))


def initial_weights(spec: ArchitectureSpec, seed: int) -> dict[str, np.ndarray]:
    """Seeded version-0 weights, as named in the torch module's ``state_dict``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    weights: dict[str, np.ndarray] = {}
    if spec.name == "mlp":
        for i, (fan_in, fan_out) in enumerate(mlp_layer_sizes(spec.params)):
            bound = 1.0 / np.sqrt(fan_in)
            # Linear i sits at index 2*i of the Sequential (ReLU in between).
            weights[f"layers.{2 * i}.weight"] = rng.uniform(
                -bound, bound, size=(fan_out, fan_in)
            ).astype(np.float32)
            weights[f"layers.{2 * i}.bias"] = rng.uniform(-bound, bound, size=(fan_out,)).astype(
                np.float32
            )
        return weights
    raise ValueError(spec.name)
