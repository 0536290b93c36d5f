"""Request and response shapes of the model resource (``/v1/models``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from app.architectures import (
    AnnouncedArchitecture,
    ArchitectureSpec,
    ParamsError,
    UnknownArchitecture,
    validate_architecture,
)
from app.errors import FieldError, InvalidInput
from app.schemas.field_errors import ensure_finite, invalid
from app.schemas.updaters import TrainingConfig, UpdaterSpec, validate_updater

ModelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"),
    Field(description="A label for people; 1-200 characters, no control characters."),
]


class ModelCreate(BaseModel):
    """``POST /v1/models`` (JSON, or the multipart ``spec`` field beside ``weights``). Every
    field has a default except the architecture's required params (``mlp``: ``input_dim``
    and ``num_classes``; ``cnn``: ``input_shape`` and ``num_classes``)."""

    model_config = ConfigDict(extra="forbid")

    name: ModelName = "model"
    architecture: ArchitectureSpec = Field(default_factory=ArchitectureSpec)
    updater: UpdaterSpec = Field(default_factory=UpdaterSpec)
    training: TrainingConfig = Field(default_factory=TrainingConfig)


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
    architecture: ArchitectureSpec
    updater: UpdaterSpec
    training: TrainingConfig
    chunk_count: int = Field(description="Chunks accepted so far.")
    created_at: datetime


class ModelList(BaseModel):
    items: list[ModelPublic]


def checked_architecture(
    spec: ArchitectureSpec, announced: Mapping[str, AnnouncedArchitecture]
) -> ArchitectureSpec:
    """The architecture with its params validated and defaults filled in, or a 422 naming
    ``architecture.name`` / ``architecture.params.<param>``."""
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
