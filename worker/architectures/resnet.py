"""The built-in ``resnet18``: the reduced ResNet-18 of GEM and DER for small images.

A 3×3 stem (stride 1, no max-pool), BasicBlocks [2, 2, 2, 2] of widths w, 2w, 4w, 8w with
strides 1, 2, 2, 2 (a 1×1 conv + BatchNorm shortcut where the shape changes), adaptive
average pooling and one linear layer — as in GEM's ``model/common.py`` and mammoth's
``backbone/ResNet18.py``, with adaptive pooling so other image sizes work too. Tensor names
match ``app.architectures.resnet18.ResNet18.state_dict`` (a test checks it).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.architectures.resnet18 import BLOCKS, STRIDES, ResNet18Params

Params = ResNet18Params


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(c_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, params: ResNet18Params) -> None:
        super().__init__()
        w = params.width
        self.conv1 = conv3x3(params.input_shape[0], w)
        self.bn1 = nn.BatchNorm2d(w)
        c_in = w
        stages: list[nn.Sequential] = []
        for stage, (blocks, stride) in enumerate(zip(BLOCKS, STRIDES, strict=True)):
            c_out = 2**stage * w
            layer = []
            for b in range(blocks):
                layer.append(BasicBlock(c_in, c_out, stride if b == 0 else 1))
                c_in = c_out
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(8 * w, params.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def build(params: ResNet18Params) -> ResNet18:
    return ResNet18(params)


def build_resnet18(params: dict[str, Any]) -> ResNet18:
    """From a params dict (defaults filled in by ``ResNet18Params``)."""
    return build(ResNet18Params.model_validate(params))
