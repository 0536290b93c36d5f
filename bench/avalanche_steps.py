"""Avalanche 0.6.0's counterpart of a ``gpu_step.py`` subject: the same line's strategy
(``bench.avalanche_reference.strategy_for``), the same data and initial weights, its
prior experiences learned once and the strategy deep-copied before each timed run.

Imports Avalanche, so only from its own environment (see ``avalanche_reference.py``).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from avalanche.benchmarks.scenarios.deprecated.generic_benchmark_creation import (
    create_generic_benchmark_from_tensor_lists,
)
from avalanche.core import SupervisedPlugin
from avalanche.training.determinism.rng_manager import RNGManager
from avalanche.training.templates import SupervisedTemplate

from app.architectures import ArchitectureSpec
from bench.avalanche_reference import strategy_for
from bench.methods import Setting
from bench.step_probe import StepCallback
from bench.step_subjects import Stream
from worker.architectures import initial_model


class AfterIteration(SupervisedPlugin):  # type: ignore[misc]
    def __init__(self, callback: StepCallback) -> None:
        super().__init__()
        self.callback = callback

    def after_training_iteration(self, strategy: SupervisedTemplate, **_: Any) -> None:
        self.callback()


def copied(strategy: SupervisedTemplate) -> SupervisedTemplate:
    """A deep copy; A-GEM's memory iterator (a generator) is made anew on the copy."""
    iterators = {}
    for plugin in strategy.plugins:
        if hasattr(plugin, "buffer_dliter"):
            iterators[id(plugin)] = plugin.buffer_dliter
            plugin.buffer_dliter = iter([])
    try:
        clone = copy.deepcopy(strategy)
    finally:
        for plugin in strategy.plugins:
            if id(plugin) in iterators:
                plugin.buffer_dliter = iterators[id(plugin)]
    for plugin in clone.plugins:
        if hasattr(plugin, "buffer_dataloader"):
            plugin.buffer_dliter = iter(plugin.buffer_dataloader)
    return clone


class AvalancheSteps:
    def __init__(
        self,
        setting: Setting,
        architecture: dict[str, Any],
        stream: Stream,
        lr: float,
        memory: int,
        device: torch.device,
    ) -> None:
        self.setting, self.architecture, self.stream = setting, architecture, stream
        self.lr, self.memory, self.device = lr, memory, device
        self.snapshot: SupervisedTemplate | None = None

    def prepare(self) -> None:
        RNGManager.set_random_seeds(0)
        model = initial_model(ArchitectureSpec.model_validate(self.architecture), 0)
        memory = self.memory if self.setting.memory != "—" else 0
        if self.setting.label == "rwalk":
            memory = 0
        strategy = strategy_for(self.setting.label, memory, model, self.lr, 1)
        strategy.device = self.device
        benchmark = create_generic_benchmark_from_tensor_lists(
            train_tensors=self.stream,
            test_tensors=self.stream,
            task_labels=[0] * len(self.stream),
        )
        experiences = list(benchmark.train_stream)
        for experience in experiences[:-1]:
            strategy.train(experience, eval_streams=[])
        self.last = experiences[-1]
        for name in ("loss", "mb_output", "mbatch", "mb_buffer_out"):  # last graph: not copyable
            setattr(strategy, name, None)
        self.snapshot = strategy

    def run(self, callback: StepCallback) -> None:
        if self.snapshot is None:
            raise RuntimeError("prepare() first")
        strategy = copied(self.snapshot)
        strategy.plugins.append(AfterIteration(callback))
        strategy.train(self.last, eval_streams=[])
