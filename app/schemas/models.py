"""Request and response shapes of the model resource (``/v1/models``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from app.architectures import (
    AnnouncedArchitecture,
    ArchitectureSpec,
    ParamsError,
    UnknownArchitecture,
    validate_architecture,
)
from app.errors import FieldError, InvalidInput
from app.schemas.architectures import (
    DEFAULT_ARCHITECTURE,
    ArchitectureConfig,
    EntryPointArchitecture,
    architecture_spec,
)
from app.schemas.field_errors import ensure_finite, invalid
from app.schemas.updaters import (
    TrainingConfig,
    UpdaterConfig,
    UpdaterSpec,
    default_updater,
    validate_updater,
)

ModelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"),
    Field(description="A label for people; 1-200 characters, no control characters."),
]


Bound = Annotated[float, Field(ge=0.0, le=1.0)]


class Promotion(BaseModel):
    """The promotion gate: after each update, ``alias`` moves to the new version only if
    it passes every bound given (a bound whose figure is undefined passes)."""

    model_config = ConfigDict(extra="forbid")

    alias: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$"),
        Field(description="The alias the gate moves, e.g. production ('latest' is reserved)."),
    ]

    @field_validator("alias")
    @classmethod
    def not_reserved(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("'latest' is reserved (the newest version)")
        return value

    min_average_accuracy: Bound | None = Field(
        default=None, description="ACC after the update must be at least this."
    )
    max_forgetting: Bound | None = Field(
        default=None, description="Average forgetting (Chaudhry et al.) at most this."
    )
    max_accuracy_drop: Bound | None = Field(
        default=None,
        description="The largest drop of accuracy on any earlier chunk's eval split (from "
        "its best so far) at most this.",
    )


class Retention(BaseModel):
    """How much of a model's history to keep (null: all)."""

    model_config = ConfigDict(extra="forbid")

    keep_chunks: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None,
        description="Keep the raw objects of the newest K applied chunks (eval splits stay).",
    )
    keep_versions: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None, description="Keep the objects of the newest K versions no alias holds."
    )


class ModelCreate(BaseModel):
    """``POST /v1/models`` (JSON, or the multipart ``spec`` field beside ``weights``). Every
    field has a default except the architecture's required params (``mlp``: ``input_dim``
    and ``num_classes``; ``cnn``: ``input_shape`` and ``num_classes``)."""

    model_config = ConfigDict(extra="forbid")

    name: ModelName = "model"
    architecture: ArchitectureConfig = Field(
        default_factory=lambda: {"name": DEFAULT_ARCHITECTURE}, validate_default=True
    )
    updater: UpdaterConfig = Field(default_factory=default_updater)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    promotion: Promotion | None = None
    retention: Retention | None = None


class ModelUpdate(BaseModel):
    """``PATCH /v1/models/{id}``: the registry settings of a model. A field given replaces
    the current one (``null`` removes it); a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    promotion: Promotion | None = None
    retention: Retention | None = None


ModelStatusName = Literal["initialising", "ready", "failed"]


class ModelPublic(BaseModel):
    id: str
    name: str
    latest_version: int
    status: ModelStatusName = Field(
        description="initialising until a worker has made version 0; failed (see error) "
        "if it could not, e.g. weights that do not fit the architecture."
    )
    error: str | None = Field(description="Why the model failed; null otherwise.")
    architecture: ArchitectureConfig
    updater: UpdaterConfig
    training: TrainingConfig
    chunk_count: int = Field(description="Chunks accepted so far.")
    storage_bytes: int = Field(
        0,
        description="Bytes of the model's objects in storage: chunks, versions (weights, "
        "updater state, program) and uploaded weights, less what retention removed.",
    )
    promotion: Promotion | None = Field(default=None, description="The promotion gate.")
    retention: Retention | None = Field(default=None, description="What history is kept.")
    created_at: datetime


class ModelList(BaseModel):
    items: list[ModelPublic]
    next_cursor: str | None = Field(
        default=None, description="Pass as ``cursor`` for the next page; null on the last."
    )


def checked_architecture(
    config: ArchitectureConfig, announced: Mapping[str, AnnouncedArchitecture]
) -> ArchitectureSpec:
    """The stored form of a typed architecture: a built-in's params are validated by its
    schema already; an entry-point one's are checked here against the schema its workers
    announced (defaults filled in), or a 422 names ``architecture.name`` /
    ``architecture.params.<param>``."""
    spec = architecture_spec(config)
    if not isinstance(config, EntryPointArchitecture):
        ensure_finite(spec.params, "architecture.params")
        return spec
    try:
        checked = validate_architecture(spec.model_dump(), announced)
    except ValidationError as exc:
        raise invalid(exc, ("architecture", "params")) from None
    except ParamsError as exc:
        raise InvalidInput.from_errors(
            [
                FieldError(".".join(map(str, ("architecture", "params", *path))), reason)
                for path, reason in exc.errors
            ]
        ) from None
    except UnknownArchitecture as exc:
        raise InvalidInput(f"architecture.name: {exc}", field="architecture.name") from None
    ensure_finite(checked.params, "architecture.params")
    return checked


def checked_updater(raw: object, prefix: str = "updater") -> UpdaterSpec:
    """The updater spec with its hyperparameters validated and defaults filled in, or a
    422 naming ``updater.name`` / ``updater.params.<param>``."""
    try:
        spec = validate_updater(raw)
    except ValidationError as exc:
        raise invalid(exc, (prefix,)) from None
    ensure_finite(spec.params, f"{prefix}.params")
    return spec
