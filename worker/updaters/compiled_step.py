"""``training.compile``: the training step under ``torch.compile``, or uncompiled (with a
logged warning) where compiling fails on this machine.

A fit compiles its own step (its closure holds that job's model and optimizer) and drops
the compiled code when it ends (``torch._dynamo.reset``), so that no job's code or
tensors outlive it and later jobs never run into dynamo's recompilation limit. The
compile cost is paid once per fit (seconds; minutes for a worker's very first compile,
which fills inductor's on-disk cache): it pays off on long fits of large models on a GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch._dynamo

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

log = logging.getLogger(__name__)


class _Fallback:
    """The compiled step until a call fails to compile; the plain step from then on."""

    def __init__(self, step: StepFn) -> None:
        self.step = step
        self.compiled: StepFn | None = torch.compile(step)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                return self.compiled(x, y)
            except torch._dynamo.exc.TorchDynamoException as exc:  # a backend or tracing fault
                log.warning("torch.compile failed (%s); training uncompiled", exc)
                self.compiled = None
        return self.step(x, y)


@contextmanager
def compiled_step(step: StepFn, enabled: bool) -> Iterator[StepFn]:
    """``step`` compiled for the duration of a fit when ``enabled``; else ``step``."""
    if not enabled:
        yield step
        return
    try:
        yield _Fallback(step)
    finally:
        torch._dynamo.reset()
