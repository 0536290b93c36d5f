"""Hyperparameters of each updater, validated by pydantic.

These models are torch-free on purpose: the API validates a model's or a job's updater
config with them (422 before anything is queued), and the updaters in
``worker/updaters`` take the same objects. Names follow the reference libraries
(Mammoth and Renate for ER/DER, Avalanche for GEM, A-GEM and RWalk).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from app.schemas.tagged_union import (
    NameDiscriminated,
    spec_name,
    tag,
    with_default_name,
    without_tags,
)

PYDANTIC_ERROR_TYPES = frozenset(get_args(ErrorType))


class StrictModel(BaseModel):
    """Unknown keys are an error: a typo in a hyperparameter must not pass silently; so is
    a number that is not finite (it would poison training)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    ridge: float = Field(
        1e-3,
        gt=0,
        le=1.0,
        description="Ridge added to the diagonal of G G^T in the dual QP: ridge x |g_k|^2 "
        "for each past experience k (ridge_mode relative: scale-free, a projected step keeps "
        "at most ridge/(1+ridge) of a violation) or ridge itself (absolute: the authors' code "
        "and Avalanche, 1e-3, which leaves half a violation when |g_k|^2 is 1e-3).",
    )
    ridge_mode: Literal["relative", "absolute"] = Field(
        "relative", description="How ridge is scaled: relative or absolute (see ridge)."
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
DEFAULT_UPDATER: UpdaterName = "er"


class UpdaterSpec(StrictModel):
    """``{"name", "params"}`` as models and jobs store it and the workers read it."""

    name: UpdaterName = DEFAULT_UPDATER
    params: dict[str, Any] = Field(default_factory=dict)

    def validated_params(self) -> StrictModel:
        return PARAMS_BY_UPDATER[self.name].model_validate(self.params)

    def normalized(self) -> UpdaterSpec:
        """The spec with every default filled in (what the job records and runs)."""
        return UpdaterSpec(name=self.name, params=self.validated_params().model_dump())


# The typed specs of the API: one per updater, ``params`` the updater's own model.


class NaiveSpec(StrictModel):
    name: Literal["naive"]
    params: NaiveParams = Field(default_factory=NaiveParams)


class ERSpec(StrictModel):
    name: Literal["er"]
    params: ERParams = Field(default_factory=ERParams)


class DERSpec(StrictModel):
    """DER; DER++ is ``der`` with ``beta`` > 0."""

    name: Literal["der"]
    params: DERParams = Field(default_factory=DERParams)


class GEMSpec(StrictModel):
    name: Literal["gem"]
    params: GEMParams = Field(default_factory=GEMParams)


class AGEMSpec(StrictModel):
    name: Literal["agem"]
    params: AGEMParams = Field(default_factory=AGEMParams)


class RWalkSpec(StrictModel):
    name: Literal["rwalk"]
    params: RWalkParams = Field(default_factory=RWalkParams)


class ERACESpec(StrictModel):
    name: Literal["er_ace"]
    params: ERACEParams = Field(default_factory=ERACEParams)


class UnknownUpdater(StrictModel):
    """Where a name no updater has goes: its ``name`` fails, listing the known ones (the
    variant is left out of the OpenAPI)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: UpdaterName


TypedUpdater = NaiveSpec | ERSpec | DERSpec | GEMSpec | AGEMSpec | RWalkSpec | ERACESpec
SPEC_BY_UPDATER: dict[str, type[TypedUpdater]] = {
    "naive": NaiveSpec,
    "er": ERSpec,
    "der": DERSpec,
    "gem": GEMSpec,
    "agem": AGEMSpec,
    "rwalk": RWalkSpec,
    "er_ace": ERACESpec,
}
UNKNOWN = "unknown"


def _updater_tag(value: Any) -> str | None:
    name = spec_name(value, DEFAULT_UPDATER)
    if not isinstance(value, dict) and not hasattr(value, "name"):
        return None
    return tag(name if isinstance(name, str) and name in SPEC_BY_UPDATER else UNKNOWN)


UpdaterConfig = Annotated[
    Annotated[NaiveSpec, Tag(tag("naive"))]
    | Annotated[ERSpec, Tag(tag("er"))]
    | Annotated[DERSpec, Tag(tag("der"))]
    | Annotated[GEMSpec, Tag(tag("gem"))]
    | Annotated[AGEMSpec, Tag(tag("agem"))]
    | Annotated[RWalkSpec, Tag(tag("rwalk"))]
    | Annotated[ERACESpec, Tag(tag("er_ace"))]
    | Annotated[UnknownUpdater, Tag(tag(UNKNOWN))],
    Discriminator(
        _updater_tag,
        custom_error_type="updater_type",
        custom_error_message="Input should be an object with a name and params",
    ),
    BeforeValidator(with_default_name(DEFAULT_UPDATER)),
    NameDiscriminated([*SPEC_BY_UPDATER, None], hidden=[len(SPEC_BY_UPDATER)]),
    Field(
        description="The updater by `name`, with its own `params` (defaults filled in). "
        "DER++ is `der` with `beta` > 0."
    ),
]
UPDATER_ADAPTER: TypeAdapter[TypedUpdater | UnknownUpdater] = TypeAdapter(UpdaterConfig)


def default_updater() -> ERSpec:
    return ERSpec(name="er")


def updater_spec(config: Any) -> UpdaterSpec:
    """The stored form of a validated typed spec."""
    assert isinstance(config, TypedUpdater)
    return UpdaterSpec(name=config.name, params=config.params.model_dump())


def validate_updater(raw: Any) -> UpdaterSpec:
    """Validate a raw ``{"name", "params"}`` (or a typed spec) and fill defaults.

    Raises pydantic's ``ValidationError`` whose locations start at ``name`` or ``params``.
    """
    try:
        return updater_spec(UPDATER_ADAPTER.validate_python(raw))
    except ValidationError as exc:
        errors = [_untagged(e) for e in exc.errors(include_url=False, include_context=True)]
        raise ValidationError.from_exception_data(exc.title, errors) from None


def _untagged(error: ErrorDetails) -> InitErrorDetails:
    """The error at the location the client sent (no union tag in it)."""
    kind: str | PydanticCustomError = error["type"]
    if kind not in PYDANTIC_ERROR_TYPES:
        kind = PydanticCustomError(error["type"], error["msg"])
    details = InitErrorDetails(type=kind, loc=without_tags(error["loc"]), input=error["input"])
    if "ctx" in error and isinstance(kind, str):
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
    compile: bool = Field(
        False,
        description="torch.compile each training step (opt-in): faster steps on long "
        "fits, after a compile of seconds to minutes per worker process; where compiling "
        "fails the worker logs a warning and trains uncompiled. Results are not bitwise "
        "those of an uncompiled run.",
    )
