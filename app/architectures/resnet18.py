"""``resnet18``: the reduced ResNet-18 of the GEM (Lopez-Paz & Ranzato 2017) and DER
(Buzzega et al. 2020) papers for small images: a 3×3 stem with stride 1 and no max-pool,
BasicBlocks [2, 2, 2, 2] of widths w, 2w, 4w, 8w with strides 1, 2, 2, 2, BatchNorm after
every convolution, global average pooling, one linear layer. ``width`` 20 is GEM's, 64
DER's."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.architectures.base import TensorSpec, batch_norm, conv2d, linear

Dim = Annotated[int, Field(ge=1, le=4096)]
BLOCKS = (2, 2, 2, 2)
STRIDES = (1, 2, 2, 2)


class ResNet18Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_shape: list[Dim] = Field(
        default_factory=lambda: [3, 32, 32],
        min_length=3,
        max_length=3,
        description="[C, H, W] of one image (the papers: 3×32×32).",
    )
    num_classes: int = Field(..., ge=2, le=1_000_000)
    width: int = Field(64, ge=1, le=512, description="Channels of the first stage (GEM: 20).")


class ResNet18:
    params = ResNet18Params
    description = "Reduced ResNet-18 (GEM/DER) with BatchNorm; 3×32×32 images by default."

    def input_shape(self, params: ResNet18Params) -> tuple[int, ...]:
        return tuple(params.input_shape)

    def num_classes(self, params: ResNet18Params) -> int:
        return params.num_classes

    def state_dict(self, params: ResNet18Params) -> dict[str, TensorSpec]:
        w = params.width
        tensors = conv2d("conv1", params.input_shape[0], w, 3, bias=False)
        tensors |= batch_norm("bn1", w)
        c_in = w
        for stage, (blocks, stride) in enumerate(zip(BLOCKS, STRIDES, strict=True)):
            c_out = 2**stage * w
            for b in range(blocks):
                p = f"layer{stage + 1}.{b}"
                s = stride if b == 0 else 1
                tensors |= conv2d(f"{p}.conv1", c_in, c_out, 3, bias=False)
                tensors |= batch_norm(f"{p}.bn1", c_out)
                tensors |= conv2d(f"{p}.conv2", c_out, c_out, 3, bias=False)
                tensors |= batch_norm(f"{p}.bn2", c_out)
                if s != 1 or c_in != c_out:
                    tensors |= conv2d(f"{p}.shortcut.0", c_in, c_out, 1, bias=False)
                    tensors |= batch_norm(f"{p}.shortcut.1", c_out)
                c_in = c_out
        tensors |= linear("linear", 8 * w, params.num_classes)
        return tensors
