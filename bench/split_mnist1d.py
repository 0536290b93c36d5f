"""Class-incremental Split-MNIST-1D: five experiences of two classes each.

MNIST-1D (Greydanus 2020) is generated procedurally by the ``mnist1d`` package, so the
stream is built offline: only ``make_dataset`` is called, never ``get_dataset`` (which
downloads a pickle from a URL and caches one to disk). The package seeds numpy's
*global* RNG; that state is saved and restored around the call so that building the
stream has no side effect on the caller.

The data set is fixed by ``data_seed`` (0 in the benchmark); the benchmark's run seeds
vary only the model's initial weights and the training draws.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

import numpy as np
from mnist1d.data import get_dataset_args, make_dataset

NUM_CLASSES = 10
INPUT_DIM = 40


@dataclass(frozen=True)
class ExperienceSplit:
    """One experience: the train samples of its classes, and their test samples (eval)."""

    classes: tuple[int, ...]
    x_train: np.ndarray  # float32, (N, 40)
    y_train: np.ndarray  # int64, (N,)
    x_eval: np.ndarray
    y_eval: np.ndarray


def generate_mnist1d(
    num_samples: int = 20_000, data_seed: int = 0, train_split: float = 0.8
) -> dict[str, np.ndarray]:
    """The whole data set, ``x``/``y`` (train) and ``x_test``/``y_test``, as float32/int64
    (fresh arrays of a cached generation: several streams share one)."""
    return {k: v.copy() for k, v in _generated(num_samples, data_seed, train_split).items()}


@cache
def _generated(num_samples: int, data_seed: int, train_split: float) -> dict[str, np.ndarray]:
    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = data_seed
    args.train_split = train_split
    args.url = ""  # never used by make_dataset; blanked so no code path can download
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {
        "x": raw["x"].astype(np.float32),
        "y": raw["y"].astype(np.int64),
        "x_test": raw["x_test"].astype(np.float32),
        "y_test": raw["y_test"].astype(np.int64),
    }


def split_by_classes(
    data: dict[str, np.ndarray], classes_per_experience: int = 2
) -> list[ExperienceSplit]:
    """Experiences {0,1}, {2,3}, ...: each keeps the train and test samples of its classes."""
    experiences = []
    for first in range(0, NUM_CLASSES, classes_per_experience):
        classes = tuple(range(first, min(first + classes_per_experience, NUM_CLASSES)))
        train = np.isin(data["y"], classes)
        test = np.isin(data["y_test"], classes)
        experiences.append(
            ExperienceSplit(
                classes=classes,
                x_train=data["x"][train],
                y_train=data["y"][train],
                x_eval=data["x_test"][test],
                y_eval=data["y_test"][test],
            )
        )
    return experiences


def split_mnist1d(
    num_samples: int = 20_000, data_seed: int = 0, classes_per_experience: int = 2
) -> list[ExperienceSplit]:
    """The benchmark's stream: 80/20 train/test, then split by classes."""
    return split_by_classes(generate_mnist1d(num_samples, data_seed), classes_per_experience)
