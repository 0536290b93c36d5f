"""What every architecture record declares, torch-free: its params model, the input shape
and classes it implies, and the tensors of its torch module's ``state_dict``.

The API validates a model's spec, its chunks and its pretrained weights with these alone;
the torch module itself is built by a worker (``worker/architectures``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

P = TypeVar("P", bound=BaseModel)


class ArchitectureSpec(BaseModel):
    """``{"name", "params"}`` as a model stores it (params validated, defaults filled)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        "mlp",
        min_length=1,
        max_length=100,
        description="Built-in (mlp, cnn, resnet18) or announced by a worker; see "
        "GET /v1/architectures.",
    )
    params: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class TensorSpec:
    """One ``state_dict`` entry: shape, safetensors dtype, and whether it is learned (a
    parameter) or a buffer (BatchNorm's running statistics)."""

    shape: tuple[int, ...]
    dtype: str = "F32"
    trainable: bool = True

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class Architecture(Protocol[P]):
    """A built-in architecture: one record per variant (``BUILTINS``)."""

    @property
    def params(self) -> type[P]: ...

    @property
    def description(self) -> str: ...

    def input_shape(self, params: P) -> tuple[int, ...]: ...

    def num_classes(self, params: P) -> int: ...

    def state_dict(self, params: P) -> dict[str, TensorSpec]:
        """Name → tensor of the torch module's ``state_dict``, in its order."""
        ...


def linear(prefix: str, fan_in: int, fan_out: int, bias: bool = True) -> dict[str, TensorSpec]:
    out = {f"{prefix}.weight": TensorSpec((fan_out, fan_in))}
    if bias:
        out[f"{prefix}.bias"] = TensorSpec((fan_out,))
    return out


def conv2d(
    prefix: str, c_in: int, c_out: int, kernel: int, bias: bool = True
) -> dict[str, TensorSpec]:
    out = {f"{prefix}.weight": TensorSpec((c_out, c_in, kernel, kernel))}
    if bias:
        out[f"{prefix}.bias"] = TensorSpec((c_out,))
    return out


def batch_norm(prefix: str, channels: int) -> dict[str, TensorSpec]:
    return {
        f"{prefix}.weight": TensorSpec((channels,)),
        f"{prefix}.bias": TensorSpec((channels,)),
        f"{prefix}.running_mean": TensorSpec((channels,), trainable=False),
        f"{prefix}.running_var": TensorSpec((channels,), trainable=False),
        f"{prefix}.num_batches_tracked": TensorSpec((), dtype="I64", trainable=False),
    }
