"""The methods the continual benchmark compares, each expanded into table lines.

A line is one updater with its hyperparameters; ``joint`` is ``naive`` trained once on the
union of the stream (the upper bound), and memory sizes are totals so that replay methods
and the per-experience GEM/A-GEM memories compare at equal cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.schemas.updaters import UpdaterName
from bench.split_mnist1d import NUM_CLASSES

NUM_EXPERIENCES = NUM_CLASSES // 2

METHODS = ("naive", "joint", "er", "der", "derpp", "gem", "agem", "rwalk", "rwalk_replay")
QUICK_METHODS = ("naive", "joint", "er", "derpp")
METHOD_UPDATER: dict[str, UpdaterName] = {
    "naive": "naive",
    "joint": "naive",
    "er": "er",
    "der": "der",
    "derpp": "der",
    "gem": "gem",
    "agem": "agem",
    "rwalk": "rwalk",
    "rwalk_replay": "rwalk",
}
AGEM_SAMPLE_SIZE = 64  # Avalanche's default for AGEM(sample_size=...)


@dataclass(frozen=True)
class Setting:
    """One line of the results table: a method with its hyperparameters."""

    method: str  # CLI name
    label: str  # as shown in the table
    memory: str  # total memory as shown ("—" where the method keeps none)
    updater: UpdaterName
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.label} | {self.memory}"


def settings_for(methods: Sequence[str], memories: Sequence[int]) -> list[Setting]:
    """Expand methods x memory sizes into table lines (memory-free methods once)."""
    out: list[Setting] = []
    for method in methods:
        updater = METHOD_UPDATER[method]
        if method in ("naive", "joint"):
            out.append(Setting(method, method, "—", updater))
        elif method == "rwalk":
            out.append(Setting(method, "rwalk", "0", updater, {"memory_size": 0}))
        else:
            for memory in memories:
                out.append(memory_setting(method, updater, memory))
    return out


def memory_setting(method: str, updater: UpdaterName, memory: int) -> Setting:
    """The line of a memory-keeping method for a total memory size."""
    per_experience = memory // NUM_EXPERIENCES  # GEM/A-GEM: totals match after the stream
    if method == "er":
        return Setting(method, "er", str(memory), updater, {"memory_size": memory})
    if method == "der":
        params = {"memory_size": memory, "alpha": 0.3, "beta": 0.0}
        return Setting(method, "der", str(memory), updater, params)
    if method == "derpp":
        params = {"memory_size": memory, "alpha": 0.3, "beta": 0.5}
        return Setting(method, "der++", str(memory), updater, params)
    if method == "gem":
        params = {"patterns_per_experience": per_experience, "memory_strength": 0.5}
        return Setting(method, "gem", f"{memory} ({per_experience}/exp)", updater, params)
    if method == "agem":
        params = {"patterns_per_experience": per_experience, "sample_size": AGEM_SAMPLE_SIZE}
        return Setting(method, "agem", f"{memory} ({per_experience}/exp)", updater, params)
    if method == "rwalk_replay":
        return Setting(method, "rwalk+replay", str(memory), updater, {"memory_size": memory})
    raise ValueError(method)
