"""Shapes of the architecture listing (``/v1/architectures``) and the typed architecture
specs of a model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from app.architectures import ArchitectureSpec
from app.architectures.cnn import CNNParams
from app.architectures.mlp import MLPParams
from app.architectures.resnet18 import ResNet18Params
from app.schemas.tagged_union import NameDiscriminated, spec_name, tag, with_default_name

EntryPointParams = Annotated[
    dict[str, Any],
    Field(
        description="Checked against the params schema the workers announced; must carry "
        "input_shape and num_classes.",
        json_schema_extra={
            "properties": {
                "input_shape": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "num_classes": {"type": "integer", "minimum": 2},
            },
        },
    ),
]


class ArchitecturePublic(BaseModel):
    name: str
    params_schema: dict[str, Any] = Field(description="JSON schema of the architecture's params.")
    source: Literal["builtin", "entry-point"] = Field(
        description="builtin, or an entry point installed where the workers run."
    )


class ArchitectureList(BaseModel):
    items: list[ArchitecturePublic]


# The typed specs a model is registered and shown with: one per built-in, ``params`` its
# own model; any other name is an entry-point architecture that only the workers know,
# its params checked later against the JSON schema they announced (``checked_architecture``).


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MLPArchitecture(_Spec):
    name: Literal["mlp"]
    params: MLPParams


class CNNArchitecture(_Spec):
    name: Literal["cnn"]
    params: CNNParams


class ResNet18Architecture(_Spec):
    name: Literal["resnet18"]
    params: ResNet18Params


TypedBuiltin = MLPArchitecture | CNNArchitecture | ResNet18Architecture
SPEC_BY_BUILTIN: dict[str, type[TypedBuiltin]] = {
    "mlp": MLPArchitecture,
    "cnn": CNNArchitecture,
    "resnet18": ResNet18Architecture,
}
ENTRY_POINT = "entry-point"
DEFAULT_ARCHITECTURE = "mlp"


class EntryPointArchitecture(_Spec):
    """An architecture installed where the workers run (``relearn.architectures`` entry
    point): its params follow the JSON schema that ``GET /v1/architectures`` lists and
    carry ``input_shape`` and ``num_classes``."""

    name: str = Field(
        min_length=1,
        max_length=100,
        json_schema_extra={"not": {"enum": list(SPEC_BY_BUILTIN)}},
        description="A name announced by a worker (see GET /v1/architectures).",
    )
    params: EntryPointParams = Field(default_factory=dict)


def _architecture_tag(value: Any) -> str | None:
    if not isinstance(value, dict) and not hasattr(value, "name"):
        return None
    name = spec_name(value, DEFAULT_ARCHITECTURE)
    return tag(name if isinstance(name, str) and name in SPEC_BY_BUILTIN else ENTRY_POINT)


def _default_params(value: Any) -> Any:
    """A built-in without ``params`` reports its required params, not ``params`` itself."""
    if isinstance(value, dict) and value.get("name") in SPEC_BY_BUILTIN and "params" not in value:
        return {**value, "params": {}}
    return value


ArchitectureConfig = Annotated[
    Annotated[MLPArchitecture, Tag(tag("mlp"))]
    | Annotated[CNNArchitecture, Tag(tag("cnn"))]
    | Annotated[ResNet18Architecture, Tag(tag("resnet18"))]
    | Annotated[EntryPointArchitecture, Tag(tag(ENTRY_POINT))],
    Discriminator(
        _architecture_tag,
        custom_error_type="architecture_type",
        custom_error_message="Input should be an object with a name and params",
    ),
    BeforeValidator(_default_params),
    BeforeValidator(with_default_name(DEFAULT_ARCHITECTURE)),
    NameDiscriminated([*SPEC_BY_BUILTIN, None]),
    Field(
        description="A built-in (mlp, cnn, resnet18) with its own params, or an "
        "entry-point architecture announced by a worker (GET /v1/architectures)."
    ),
]


def architecture_spec(config: Any) -> ArchitectureSpec:
    """The stored form ``{"name", "params"}`` of a typed spec."""
    params = config.params if isinstance(config, EntryPointArchitecture) else None
    if params is None:
        params = config.params.model_dump(mode="json")
    return ArchitectureSpec(name=config.name, params=dict(params))
