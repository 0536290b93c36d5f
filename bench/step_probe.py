"""Callbacks called after every training step: a clock and a ``torch.profiler`` counter.

Both hook into what the code under test already calls once a step (an updater's
``progress`` callback, an Avalanche plugin's ``after_training_iteration``), so the same
probe measures relearn, Avalanche and a plain loop alike and the measured window holds
whole steps only (no fit prelude or postlude). The clock synchronises the device at its
first and its last expected call and nowhere else, so it adds no sync to the steps
between; the counter profiles a few steps in the middle of the run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, schedule

StepCallback = Callable[..., None]

# CUDA runtime/driver calls, as the profiler names them.
LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")
SYNCS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")
HOST_READ = "aten::_local_scalar_dense"  # .item(), .tolist(), bool(t): a sync on a GPU


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepClock:
    """Seconds per step between the first and the ``steps``-th call."""

    def __init__(self, device: torch.device, steps: int) -> None:
        if steps < 2:
            raise ValueError("a clock needs at least two steps")
        self.device, self.steps = device, steps
        self.times: list[float] = []

    def __call__(self, *_: Any, **__: Any) -> None:
        n = len(self.times) + 1
        if n in (1, self.steps):
            synchronize(self.device)
        if n <= self.steps:
            self.times.append(time.perf_counter())

    def per_step(self) -> float:
        if len(self.times) < self.steps:
            raise RuntimeError(f"expected {self.steps} steps, saw {len(self.times)}")
        return (self.times[-1] - self.times[0]) / (self.steps - 1)


def count_events(events: Any, device: torch.device) -> dict[str, int]:
    """Ops and host syncs in a profiler's events. On the CPU: leaf ``aten::`` ops (about
    one kernel each on a GPU) and host reads of a tensor's value; on CUDA: kernel
    launches, and synchronising calls plus device-to-host copies."""
    names: Counter[str] = Counter()
    leaves = 0
    for event in events:
        names[event.name] += 1
        if event.name.startswith("aten::") and not any(
            child.name.startswith("aten::") for child in event.cpu_children
        ):
            leaves += 1
    if device.type == "cuda":
        d2h = sum(n for name, n in names.items() if "DtoH" in name or "Device -> Pageable" in name)
        return {
            "ops": sum(names[n] for n in LAUNCHES),
            "syncs": sum(names[n] for n in SYNCS) + d2h,
        }
    return {"ops": leaves, "syncs": names[HOST_READ]}


class StepProfiler:
    """Counts per step over ``active`` steps after two steps of warm-up. A context
    manager; call it after every step."""

    def __init__(self, device: torch.device, active: int = 3) -> None:
        self.device, self.active = device, active
        self.counts: dict[str, float] | None = None
        activities = [ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        self._profile = profile(
            activities=activities,
            schedule=schedule(wait=1, warmup=1, active=active, repeat=1),
            on_trace_ready=self._ready,
        )

    def _ready(self, prof: profile) -> None:
        totals = count_events(prof.events(), self.device)
        self.counts = {key: value / self.active for key, value in totals.items()}

    def __enter__(self) -> StepProfiler:
        self._profile.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._profile.__exit__(kind, value, traceback)

    def __call__(self, *_: Any, **__: Any) -> None:
        self._profile.step()  # no sync here: launches are host calls, counted when made

    def per_step(self) -> dict[str, float]:
        if self.counts is None:
            raise RuntimeError(f"fewer than {self.active + 2} steps were profiled")
        return self.counts
