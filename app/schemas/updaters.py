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


class NaiveParams(StrictModel):
    """Plain fine-tuning on each chunk: the lower bound every method must beat."""


class ReplayParams(StrictModel):
    memory_size: int = Field(500, ge=1, description="Reservoir buffer capacity (samples).")
    memory_batch_size: int | None = Field(
        None, ge=1, description="Memory samples per step; default: training.batch_size."
    )


MemoryUpdate = Literal["after_fit", "last_epoch"]
MEMORY_UPDATE_HELP = (
    "When a chunk's samples are offered to the reservoir: after_fit (once the chunk is "
    "learned: its memory batches are all past data, as an episodic memory) or last_epoch "
    "(step by step during the chunk's last epoch, as online ER)."
)


class ERParams(ReplayParams):
    """Experience Replay (Chaudhry et al. 2019) with a reservoir buffer."""

    memory_update: MemoryUpdate = Field("after_fit", description=MEMORY_UPDATE_HELP)


class DERParams(ReplayParams):
    """Dark Experience Replay (Buzzega et al. 2020); DER++ when beta > 0."""

    alpha: float = Field(0.3, ge=0, description="Weight of the logit-matching MSE term.")
    beta: float = Field(0.0, ge=0, description="Weight of the replayed-label CE term (DER++).")


class GEMParams(StrictModel):
    """Gradient Episodic Memory (Lopez-Paz & Ranzato 2017)."""

    patterns_per_experience: int = Field(256, ge=1, description="Stored patterns per chunk.")
    memory_strength: float = Field(
        0.5, ge=0, description="Margin gamma: the dual variables are bounded below by it."
    )


class AGEMParams(StrictModel):
    """Averaged GEM (Chaudhry et al. 2019a)."""

    patterns_per_experience: int = Field(256, ge=1, description="Stored patterns per chunk.")
    sample_size: int = Field(64, ge=1, description="Memory samples for the reference gradient.")


class RWalkParams(StrictModel):
    """Riemannian Walk (Chaudhry et al. 2018), optionally with reservoir replay."""

    ewc_lambda: float = Field(0.1, ge=0, description="Weight of the quadratic penalty.")
    ewc_alpha: float = Field(0.9, ge=0, le=1, description="EWC++ moving-average factor.")
    delta_t: int = Field(10, ge=1, description="Steps between parameter-score updates.")
    memory_size: int = Field(0, ge=0, description="Reservoir replay memory; 0 = none.")
    memory_batch_size: int | None = Field(
        None, ge=1, description="Memory samples per step; default: training.batch_size."
    )
    memory_update: MemoryUpdate = Field("after_fit", description=MEMORY_UPDATE_HELP)


PARAMS_BY_UPDATER: dict[str, type[StrictModel]] = {
    "naive": NaiveParams,
    "er": ERParams,
    "der": DERParams,
    "gem": GEMParams,
    "agem": AGEMParams,
    "rwalk": RWalkParams,
}

UpdaterName = Literal["naive", "er", "der", "gem", "agem", "rwalk"]


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

    epochs: int = Field(1, ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=65536)
    lr: float = Field(0.01, gt=0, le=10)
    optimizer: Optimizer = "sgd"
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    eval_batch_size: int = Field(1024, ge=1)
    mixed_precision: bool = Field(
        True, description="bf16 autocast on CUDA devices; ignored on the CPU."
    )
