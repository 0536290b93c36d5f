"""``toy``: flatten → Linear(hidden) → Tanh → Linear(num_classes), on inputs of any shape.

What relearn needs from an architecture package: ``Params`` (a pydantic model with
``input_shape`` and ``num_classes``) and ``build(params) -> torch.nn.Module``.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=4)
    num_classes: int = Field(ge=2)
    hidden: int = Field(8, ge=1, le=4096)


class Toy(nn.Module):
    def __init__(self, params: Params) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(params.input_shape), params.hidden),
            nn.Tanh(),
        )
        self.head = nn.Linear(params.hidden, params.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def build(params: Params) -> Toy:
    return Toy(params)
