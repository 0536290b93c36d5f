"""The benchmark's streams: five experiences each, fixed by a data seed, numpy only.

- ``split_mnist1d``: class-incremental Split-MNIST-1D, two classes per experience, ~3,200
  training samples each (the project's own benchmark).
- ``split_mnist1d_300``: the same with the first 300 training samples of each experience
  (about ten steps an epoch, where a replay method's memory matters most); eval splits whole.
- ``split_glyphs``: class-incremental procedural 12×12 images (``glyphs``) for the ``cnn``,
  1,600 training samples an experience and lr 0.1: with fewer steps, or 0.05, a freshly
  initialised CNN has not left its initial plateau after one epoch.
- ``split_glyphs32``: the same glyphs as colour 3×32×32 images (4-pixel cells, each
  channel tinted at random) for the ``resnet18`` of GEM (width 20), 320 training samples
  an experience, so that every updater on the ResNet runs in minutes on one CPU thread.
- ``permuted_mnist1d``: domain-incremental: every experience holds all ten classes, its
  inputs under a fixed permutation of its own (2,000 training samples each, disjoint).

Each stream names the architecture it is benchmarked with, so that relearn and the
Avalanche reference (``avalanche_reference.py``, another environment) build the same one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from bench.glyphs import glyphs
from bench.split_mnist1d import ExperienceSplit, generate_mnist1d, split_by_classes

NUM_CLASSES = 10
NUM_EXPERIENCES = 5
MLP_HIDDEN = [256, 256]


@dataclass(frozen=True)
class Stream:
    """A named stream and the architecture (``{"name", "params"}``) it is run with."""

    name: str
    kind: Literal["class-incremental", "domain-incremental"]
    experiences: list[ExperienceSplit]
    architecture: dict[str, Any] = field(default_factory=dict)
    lr: float = 0.05  # SGD's, without momentum

    @property
    def train_sizes(self) -> list[int]:
        return [len(e.y_train) for e in self.experiences]


def mlp(input_dim: int) -> dict[str, Any]:
    params = {"input_dim": input_dim, "hidden": MLP_HIDDEN, "num_classes": NUM_CLASSES}
    return {"name": "mlp", "params": params}


def split_mnist1d_stream(data_seed: int = 0) -> Stream:
    experiences = split_by_classes(generate_mnist1d(20_000, data_seed))
    return Stream("split_mnist1d", "class-incremental", experiences, mlp(40))


def split_mnist1d_300_stream(data_seed: int = 0, per_experience: int = 300) -> Stream:
    full = split_by_classes(generate_mnist1d(20_000, data_seed))
    experiences = [
        ExperienceSplit(
            e.classes, e.x_train[:per_experience], e.y_train[:per_experience], e.x_eval, e.y_eval
        )
        for e in full
    ]
    return Stream("split_mnist1d_300", "class-incremental", experiences, mlp(40))


GLYPH_SIZE = 12
GLYPH_CNN = {
    "input_shape": [1, GLYPH_SIZE, GLYPH_SIZE],
    "num_classes": NUM_CLASSES,
    "channels": [16, 32],
    "hidden": 128,
}


def split_glyphs_stream(data_seed: int = 0) -> Stream:
    data = glyphs(per_class_train=800, per_class_eval=100, size=GLYPH_SIZE, data_seed=data_seed)
    experiences = split_by_classes(data)
    architecture = {"name": "cnn", "params": dict(GLYPH_CNN)}
    return Stream("split_glyphs", "class-incremental", experiences, architecture, lr=0.1)


GLYPH32_RESNET = {"input_shape": [3, 32, 32], "num_classes": NUM_CLASSES, "width": 20}


def split_glyphs32_stream(data_seed: int = 0, per_class_train: int = 160) -> Stream:
    data = glyphs(
        per_class_train=per_class_train,
        per_class_eval=50,
        size=32,
        channels=3,
        data_seed=data_seed,
        cell=4,
    )
    architecture = {"name": "resnet18", "params": dict(GLYPH32_RESNET)}
    return Stream(
        "split_glyphs32", "class-incremental", split_by_classes(data), architecture, lr=0.1
    )


def permuted_mnist1d_stream(
    data_seed: int = 0, per_experience: int = 2_000, num_samples: int = 20_000
) -> Stream:
    data = generate_mnist1d(num_samples, data_seed)
    rng = np.random.default_rng([data_seed, 11])
    parts = np.arange(NUM_EXPERIENCES * per_experience).reshape(NUM_EXPERIENCES, -1)
    experiences = []
    for part in parts:
        permutation = rng.permutation(data["x"].shape[1])
        experiences.append(
            ExperienceSplit(
                classes=tuple(range(NUM_CLASSES)),
                x_train=np.ascontiguousarray(data["x"][part][:, permutation]),
                y_train=data["y"][part],
                x_eval=np.ascontiguousarray(data["x_test"][:, permutation]),
                y_eval=data["y_test"],
            )
        )
    return Stream("permuted_mnist1d", "domain-incremental", experiences, mlp(40))


STREAMS: dict[str, Callable[[], Stream]] = {
    "split_mnist1d": split_mnist1d_stream,
    "split_mnist1d_300": split_mnist1d_300_stream,
    "split_glyphs": split_glyphs_stream,
    "split_glyphs32": split_glyphs32_stream,
    "permuted_mnist1d": permuted_mnist1d_stream,
}

DEFAULT_STREAMS = ("split_mnist1d", "split_mnist1d_300", "split_glyphs", "permuted_mnist1d")
"""What a run without ``--streams`` covers: ``split_glyphs32`` (a ResNet-18 on the CPU,
hours at five epochs) runs only when named."""
