"""The resources a model claims on a worker, estimated at the API and bounded (a 422
naming the field) before anything is stored: no claim fails only later in the worker.

- parameters: from the architecture registry (``parameter_count``; an entry-point
  architecture's is known only to workers, so it is not bounded here);
- memory buffer bytes: replay samples held on the device × one sample's bytes (``x`` as
  float32 of ``input_shape``, an int64 label; DER also keeps ``num_classes`` float32
  logits). ER, ER-ACE, DER and RWalk keep ``memory_size`` samples; GEM and A-GEM keep
  ``patterns_per_experience`` per chunk, counted over ``GEM_EXPERIENCES_BUDGETED``
  chunks, and GEM one gradient (one float32 per parameter) per past chunk as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.architectures import ArchitectureSpec, input_shape, num_classes, parameter_count
from app.config import Settings
from app.errors import InvalidInput
from app.schemas.updaters import UpdaterSpec

FLOAT32_BYTES = 4
LABEL_BYTES = 8
# GEM's memory grows with every chunk; the estimate budgets this many chunks of it.
GEM_EXPERIENCES_BUDGETED = 100
DEFAULT_MAX_MEMORY_BUFFER_BYTES = 8 * 1024**3
DEFAULT_MAX_PARAMETERS = 50_000_000  # 200 MB of float32 weights


@dataclass(frozen=True)
class ResourceLimits:
    """What one model may claim (``RELEARN_MAX_MEMORY_BUFFER_BYTES``,
    ``RELEARN_MAX_PARAMETERS``)."""

    max_memory_buffer_bytes: int = DEFAULT_MAX_MEMORY_BUFFER_BYTES
    max_parameters: int = DEFAULT_MAX_PARAMETERS

    @classmethod
    def of(cls, settings: Settings) -> ResourceLimits:
        return cls(settings.max_memory_buffer_bytes, settings.max_parameters)


@dataclass(frozen=True)
class Estimate:
    parameters: int | None
    memory_buffer_bytes: int
    memory_field: str | None  # the hyperparameter that sizes the memory


def estimate(architecture: ArchitectureSpec, updater: UpdaterSpec) -> Estimate:
    params = updater.validated_params().model_dump()
    sample = math.prod(input_shape(architecture)) * FLOAT32_BYTES + LABEL_BYTES
    count = parameter_count(architecture)
    if updater.name in ("gem", "agem"):
        stored = int(params["patterns_per_experience"]) * GEM_EXPERIENCES_BUDGETED
        extra = (
            (count or 0) * FLOAT32_BYTES * GEM_EXPERIENCES_BUDGETED if updater.name == "gem" else 0
        )
        return Estimate(count, stored * sample + extra, "patterns_per_experience")
    size = int(params.get("memory_size") or 0)
    if updater.name == "der":
        sample += num_classes(architecture) * FLOAT32_BYTES
    return Estimate(count, size * sample, "memory_size" if "memory_size" in params else None)


def ensure_within_limits(
    architecture: ArchitectureSpec,
    updater: UpdaterSpec,
    limits: ResourceLimits,
    updater_field: str = "updater",
) -> Estimate:
    """The estimate, or a 422 naming the field that claims too much."""
    found = estimate(architecture, updater)
    if found.parameters is not None and found.parameters > limits.max_parameters:
        raise InvalidInput(
            f"architecture.params: the model would have {found.parameters:,} parameters, "
            f"more than the {limits.max_parameters:,} this service accepts "
            "(RELEARN_MAX_PARAMETERS)",
            field="architecture.params",
        )
    if found.memory_buffer_bytes > limits.max_memory_buffer_bytes and found.memory_field:
        field = f"{updater_field}.params.{found.memory_field}"
        raise InvalidInput(
            f"{field}: the replay memory would take about {found.memory_buffer_bytes:,} bytes "
            f"on the worker, more than the {limits.max_memory_buffer_bytes:,} this service "
            "accepts (RELEARN_MAX_MEMORY_BUFFER_BYTES)",
            field=field,
        )
    return found
