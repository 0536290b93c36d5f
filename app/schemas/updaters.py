"""Hyperparameters of each updater, validated by pydantic.

These models are torch-free on purpose: the API validates a model's or a job's updater
config with them (422 before anything is queued), and the updaters in
``worker/updaters`` take the same objects. Names follow the reference libraries
(Mammoth and Renate for ER/DER, Avalanche for GEM, A-GEM and RWalk).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails


class StrictModel(BaseModel):
    """Unknown keys are an error: a typo in a hyperparameter must not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Upper bounds of every numeric setting (issue 10): generous for real use, small enough
# that no value fails only later in the worker. What a memory costs in bytes is bounded
# apart, by the per-model resource estimate (samples x sample size).
MAX_MEMORY_SIZE = 1_000_000
"""Samples in a replay memory (``memory_size``) or per experience (``patterns_per_experience``)."""
MAX_BATCH = 65_536
"""Samples per step: ``batch_size``, ``memory_batch_size``, ``sample_size``, ``eval_batch_size``."""
MAX_LOSS_WEIGHT = 1_000.0
"""Weights of loss terms: DER's ``alpha``/``beta``, GEM's ``memory_strength``."""
MAX_EWC_LAMBDA = 1_000_000.0
"""RWalk's ``ewc_lambda`` (EWC-style penalties are tuned over decades, up to ~1e4)."""
MAX_DELTA_T = 1_000_000
"""RWalk's ``delta_t`` in steps."""


class NaiveParams(StrictModel):
    """Plain fine-tuning on each chunk: the lower bound every method must beat."""


MemoryPolicy = Literal["reservoir", "class_balanced"]
MEMORY_POLICY_HELP = (
    "Which samples a replay memory keeps: class_balanced (an equal share per class seen so "
    "far, a uniform sample within each class; as Avalanche's ClassBalancedBuffer) or "
    "reservoir (a uniform sample of the whole stream, Vitter's Algorithm R)."
)
MemoryUpdate = Literal["after_fit", "before_fit", "last_epoch"]
MEMORY_UPDATE_HELP = (
    "When a chunk's samples are offered to the memory: after_fit (once the chunk is "
    "learned: its memory batches are all past data, as an episodic memory), before_fit "
    "(before training on it: memory batches mix past and current data, as Avalanche's "
    "ER-ACE) or last_epoch (step by step during the chunk's last epoch, as online ER)."
)


def memory_size_field(default: int, minimum: int) -> Any:
    return Field(
        default,
        ge=minimum,
        le=MAX_MEMORY_SIZE,
        description=f"Replay memory capacity in samples (at most {MAX_MEMORY_SIZE:,})"
        + ("; 0 = none." if minimum == 0 else "."),
    )


def memory_batch_size_field() -> Any:
    return Field(
        None,
        ge=1,
        le=MAX_BATCH,
        description="Memory samples per step; default: training.batch_size.",
    )


class ReplayParams(StrictModel):
    memory_size: int = memory_size_field(500, minimum=1)
    memory_batch_size: int | None = memory_batch_size_field()
    memory_policy: MemoryPolicy = Field("class_balanced", description=MEMORY_POLICY_HELP)


class ERParams(ReplayParams):
    """Experience Replay (Chaudhry et al. 2019)."""

    memory_update: MemoryUpdate = Field("after_fit", description=MEMORY_UPDATE_HELP)


class ERACEParams(ReplayParams):
    """ER with the asymmetric cross-entropy (Caccia et al. 2022)."""

    memory_update: MemoryUpdate = Field("before_fit", description=MEMORY_UPDATE_HELP)


DERLogits = Literal["after_fit", "training"]
DER_LOGITS_HELP = (
    "Which logits the memory keeps: after_fit (the trained model's, in eval mode, for the "
    "samples kept when the chunk ends, as Avalanche) or training (each sample's training "
    "forward in the chunk's last epoch, as Mammoth and the paper)."
)


class DERParams(ReplayParams):
    """Dark Experience Replay (Buzzega et al. 2020); DER++ when beta > 0."""

    alpha: float = Field(
        0.3, ge=0, le=MAX_LOSS_WEIGHT, description="Weight of the logit-matching MSE term."
    )
    beta: float = Field(
        0.0, ge=0, le=MAX_LOSS_WEIGHT, description="Weight of the replayed-label CE term (DER++)."
    )
    logits: DERLogits = Field("after_fit", description=DER_LOGITS_HELP)


class GEMParams(StrictModel):
    """Gradient Episodic Memory (Lopez-Paz & Ranzato 2017)."""

    patterns_per_experience: int = Field(
        256, ge=1, le=MAX_MEMORY_SIZE, description="Stored patterns per chunk."
    )
    memory_strength: float = Field(
        0.5,
        ge=0,
        le=MAX_LOSS_WEIGHT,
        description="Margin gamma: the dual variables are bounded below by it.",
    )


class AGEMParams(StrictModel):
    """Averaged GEM (Chaudhry et al. 2019a)."""

    patterns_per_experience: int = Field(
        256, ge=1, le=MAX_MEMORY_SIZE, description="Stored patterns per chunk."
    )
    sample_size: int = Field(
        64, ge=1, le=MAX_BATCH, description="Memory samples for the reference gradient."
    )


class RWalkParams(StrictModel):
    """Riemannian Walk (Chaudhry et al. 2018), optionally with replay."""

    ewc_lambda: float = Field(
        0.1, ge=0, le=MAX_EWC_LAMBDA, description="Weight of the quadratic penalty."
    )
    ewc_alpha: float = Field(0.9, ge=0, le=1, description="EWC++ moving-average factor.")
    delta_t: int = Field(
        10, ge=1, le=MAX_DELTA_T, description="Steps between parameter-score updates."
    )
    memory_size: int = memory_size_field(0, minimum=0)
    memory_batch_size: int | None = memory_batch_size_field()
    memory_policy: MemoryPolicy = Field("class_balanced", description=MEMORY_POLICY_HELP)
    memory_update: MemoryUpdate = Field("after_fit", description=MEMORY_UPDATE_HELP)


PARAMS_BY_UPDATER: dict[str, type[StrictModel]] = {
    "naive": NaiveParams,
    "er": ERParams,
    "der": DERParams,
    "gem": GEMParams,
    "agem": AGEMParams,
    "rwalk": RWalkParams,
    "er_ace": ERACEParams,
}

UpdaterName = Literal["naive", "er", "der", "gem", "agem", "rwalk", "er_ace"]


class UpdaterSpec(StrictModel):
    """``{"name", "params"}`` as clients send it; ``params`` checked against ``name``."""

    name: UpdaterName = "er"
    params: dict[str, Any] = Field(default_factory=dict)

    def validated_params(self) -> StrictModel:
        return PARAMS_BY_UPDATER[self.name].model_validate(self.params)

    def normalized(self) -> UpdaterSpec:
        """The spec with every default filled in (what the job records and runs)."""
        return UpdaterSpec(name=self.name, params=self.validated_params().model_dump())


def validate_updater(raw: Any) -> UpdaterSpec:
    """Validate a raw ``{"name", "params"}`` and fill defaults.

    Raises pydantic's ``ValidationError`` whose locations start at ``name`` or ``params``.
    """
    spec = UpdaterSpec.model_validate(raw)
    try:
        return spec.normalized()
    except ValidationError as exc:
        errors = [_under_params(e) for e in exc.errors(include_url=False, include_context=True)]
        raise ValidationError.from_exception_data(exc.title, errors) from None


def _under_params(error: ErrorDetails) -> InitErrorDetails:
    """The error re-rooted under ``params``, so that clients see the full path."""
    details = InitErrorDetails(
        type=error["type"], loc=("params", *error["loc"]), input=error["input"]
    )
    if "ctx" in error:
        details["ctx"] = error["ctx"]
    return details


Optimizer = Annotated[Literal["sgd", "adam", "adamw"], Field(description="Optimizer.")]


class TrainingConfig(StrictModel):
    """How each chunk is trained. ``batch_size`` counts *new* samples per step."""

    epochs: int = Field(1, ge=1, le=1000, description="Passes over each chunk (at most 1,000).")
    batch_size: int = Field(
        32, ge=1, le=MAX_BATCH, description=f"New samples per step (at most {MAX_BATCH:,})."
    )
    lr: float = Field(0.01, gt=0, le=10, description="Learning rate, in (0, 10].")
    optimizer: Optimizer = "sgd"
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum, in [0, 1).")
    weight_decay: float = Field(0.0, ge=0, le=1, description="L2 weight decay, in [0, 1].")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Seed of every draw of the updater.")
    eval_batch_size: int = Field(
        1024,
        ge=1,
        le=MAX_BATCH,
        description=f"Samples per evaluation forward (at most {MAX_BATCH:,}).",
    )
    mixed_precision: bool = Field(
        True, description="bf16 autocast on CUDA devices; ignored on the CPU."
    )
