"""Shared fixtures of the updater tests: a tiny seeded MLP and a synthetic class-incremental
stream, all on the CPU.

Each class is a Gaussian blob around a fixed mean (the means are the same for every seed,
so train and test splits drawn with different seeds come from one distribution). An
experience holds ``CLASSES_PER_EXPERIENCE`` consecutive classes: experience k has classes
2k and 2k+1, the class-incremental setting where plain fine-tuning forgets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest
import torch

from worker.architectures.mlp import MLP
from worker.updaters.protocol import Experience

INPUT_DIM = 8
NUM_CLASSES = 6
CLASSES_PER_EXPERIENCE = 2
NUM_EXPERIENCES = NUM_CLASSES // CLASSES_PER_EXPERIENCE
MEANS_SEED = 1234
MEAN_SCALE = 2.0

ModelFactory = Callable[..., MLP]
ExperienceFactory = Callable[..., Experience]
StreamFactory = Callable[..., list[Experience]]


def class_means() -> torch.Tensor:
    generator = torch.Generator().manual_seed(MEANS_SEED)
    return MEAN_SCALE * torch.randn(NUM_CLASSES, INPUT_DIM, generator=generator)


def experience_classes(k: int) -> list[int]:
    return list(range(CLASSES_PER_EXPERIENCE * k, CLASSES_PER_EXPERIENCE * (k + 1)))


def tiny_mlp(seed: int = 0, hidden: Sequence[int] = (32,)) -> MLP:
    """A fresh MLP whose initial weights depend only on ``seed`` (the process's global RNG
    is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(INPUT_DIM, list(hidden), NUM_CLASSES)


def class_experience(classes: Sequence[int], per_class: int, seed: int) -> Experience:
    """``per_class`` samples of each class, shuffled; every row is distinct."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.tensor(list(classes)).repeat_interleave(per_class)
    y = y[torch.randperm(y.shape[0], generator=generator)]
    x = class_means()[y] + torch.randn(y.shape[0], INPUT_DIM, generator=generator)
    return Experience(x, y)


def class_incremental_stream(per_class: int, seed: int) -> list[Experience]:
    """One experience per pair of classes, in class order."""
    return [
        class_experience(experience_classes(k), per_class, seed=seed * 100 + k)
        for k in range(NUM_EXPERIENCES)
    ]


@pytest.fixture
def make_model() -> ModelFactory:
    """``make_model(seed=0, hidden=(32,))``: see ``tiny_mlp``."""
    return tiny_mlp


@pytest.fixture
def make_experience() -> ExperienceFactory:
    """``make_experience(classes, per_class, seed)``: see ``class_experience``."""
    return class_experience


@pytest.fixture
def make_stream() -> StreamFactory:
    """``make_stream(per_class, seed)``: see ``class_incremental_stream``."""
    return class_incremental_stream


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """One intra-op thread: tiny models run faster so, and CPU results are the same
    whatever the machine's core count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture
def deterministic() -> Iterator[None]:
    """Deterministic kernels for the duration of a test (restored afterwards)."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def accuracy(model: torch.nn.Module, experience: Experience) -> float:
    model.eval()
    with torch.no_grad():
        predicted = model(experience.x).argmax(dim=1)
    model.train()
    return float((predicted == experience.y).float().mean())


@pytest.fixture
def evaluate() -> Callable[[torch.nn.Module, Experience], float]:
    """``evaluate(model, experience)``: accuracy of ``model`` on ``experience``."""
    return accuracy
