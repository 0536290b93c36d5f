"""The methods the continual benchmark compares, each expanded into table lines.

A line is one updater with its hyperparameters; ``joint`` is ``naive`` trained once on the
union of the stream (the upper bound), and memory sizes are totals so that replay methods
and the per-experience GEM/A-GEM memories compare at equal cost. A line leaves every
parameter it does not name at the updater's default, so the plain lines measure the
defaults; ``variants`` adds the alternatives the defaults were chosen against (memory
policy, DER's logits, ER-ACE's memory update), labelled with what they change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.schemas.updaters import UpdaterName
from bench.streams import NUM_EXPERIENCES

METHODS = (
    "naive",
    "joint",
    "er",
    "der",
    "derpp",
    "er_ace",
    "gem",
    "agem",
    "rwalk",
    "rwalk_replay",
)
QUICK_METHODS = ("naive", "joint", "er", "derpp", "er_ace")
METHOD_UPDATER: dict[str, UpdaterName] = {
    "naive": "naive",
    "joint": "naive",
    "er": "er",
    "der": "der",
    "derpp": "der",
    "er_ace": "er_ace",
    "gem": "gem",
    "agem": "agem",
    "rwalk": "rwalk",
    "rwalk_replay": "rwalk",
}
AGEM_SAMPLE_SIZE = 64  # Avalanche's default for AGEM(sample_size=...)
# DER++: beta 1.0, within the authors' tuned values (Mammoth's best_args: alpha 0.1-1.0, beta
# 0.5 or 1.0): label replay weighs as much as the new batch; measured against 0.5 in
# BENCHMARKS.md "How the defaults were chosen".
DER_ALPHA, DERPP_BETA = 0.3, 1.0
RESERVOIR = {"memory_policy": "reservoir"}

# The alternatives to each default, as (label suffix, parameters overriding it).
VARIANTS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "er": [("reservoir", RESERVOIR)],
    "der": [("reservoir, training logits", {**RESERVOIR, "logits": "training"})],
    "derpp": [
        ("beta 0.5", {"beta": 0.5}),
        ("reservoir, training logits", {**RESERVOIR, "logits": "training"}),
        ("training logits", {"logits": "training"}),
        ("reservoir", RESERVOIR),
    ],
    "er_ace": [
        ("after_fit", {"memory_update": "after_fit"}),
        ("last_epoch", {"memory_update": "last_epoch"}),
    ],
    "rwalk_replay": [("reservoir", RESERVOIR)],
}


@dataclass(frozen=True)
class Setting:
    """One line of the results table: a method with its hyperparameters."""

    method: str  # CLI name
    label: str  # as shown in the table
    memory: str  # total memory as shown ("—" where the method keeps none)
    updater: UpdaterName
    params: dict[str, Any] = field(default_factory=dict)
    variant: str = ""  # "" for the updater's defaults

    @property
    def key(self) -> str:
        return f"{self.label} | {self.memory}"


def settings_for(
    methods: Sequence[str], memories: Sequence[int], variants: bool = False
) -> list[Setting]:
    """Expand methods x memory sizes (x variants) into table lines (memory-free methods once)."""
    out: list[Setting] = []
    for method in methods:
        updater = METHOD_UPDATER[method]
        if method in ("naive", "joint"):
            out.append(Setting(method, method, "—", updater))
        elif method == "rwalk":
            out.append(Setting(method, "rwalk", "0", updater, {"memory_size": 0}))
        else:
            for memory in memories:
                base = memory_setting(method, updater, memory)
                out.append(base)
                for suffix, overrides in VARIANTS.get(method, []) if variants else []:
                    out.append(
                        Setting(
                            method,
                            f"{base.label} [{suffix}]",
                            base.memory,
                            updater,
                            {**base.params, **overrides},
                            variant=suffix,
                        )
                    )
    return out


def memory_setting(method: str, updater: UpdaterName, memory: int) -> Setting:
    """The line of a memory-keeping method for a total memory size, at its defaults."""
    per_experience = memory // NUM_EXPERIENCES  # GEM/A-GEM: totals match after the stream
    if method == "er":
        return Setting(method, "er", str(memory), updater, {"memory_size": memory})
    if method == "er_ace":
        return Setting(method, "er_ace", str(memory), updater, {"memory_size": memory})
    if method == "der":
        params = {"memory_size": memory, "alpha": DER_ALPHA, "beta": 0.0}
        return Setting(method, "der", str(memory), updater, params)
    if method == "derpp":
        params = {"memory_size": memory, "alpha": DER_ALPHA, "beta": DERPP_BETA}
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
