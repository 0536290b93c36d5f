"""The architectures a model can have, described without torch.

Built-ins are one record each in ``BUILTINS`` (params model, input shape, classes, the
``state_dict`` tensors): adding one is a module here plus one line below, and its torch
builder in ``worker/architectures`` under the ``relearn.architectures`` entry-point group.
Other entry-point architectures are known from what workers announce
(``AnnouncedArchitecture``): their params are checked against the announced JSON schema
and must carry ``input_shape`` and ``num_classes`` (the convention that lets the API
validate chunks without the module).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.architectures.base import Architecture, ArchitectureSpec, TensorSpec
from app.architectures.cnn import CNN
from app.architectures.mlp import MLP
from app.architectures.resnet18 import ResNet18

__all__ = [
    "BUILTINS",
    "AnnouncedArchitecture",
    "Architecture",
    "ArchitectureSpec",
    "ParamsError",
    "TensorSpec",
    "UnknownArchitecture",
    "expected_state_dict",
    "input_shape",
    "num_classes",
    "parameter_count",
    "validate_architecture",
]

BUILTINS: dict[str, Architecture[Any]] = {"mlp": MLP(), "cnn": CNN(), "resnet18": ResNet18()}

MAX_INPUT_RANK = 8
MAX_INPUT_DIM = 1 << 20


class UnknownArchitecture(ValueError):
    """A name neither built in nor announced by a worker."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown architecture {name!r}; known: {known}")
        self.known = known


class ParamsError(ValueError):
    """Params that do not fit an announced architecture's schema: (path, reason) pairs,
    paths relative to ``params``."""

    def __init__(self, errors: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p)) or 'params'}: {r}" for p, r in errors))
        self.errors = errors


@dataclass(frozen=True)
class AnnouncedArchitecture:
    """An entry-point architecture as a live worker announced it."""

    name: str
    params_schema: dict[str, Any]

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Params checked against the schema, top-level defaults filled in, and the
        ``input_shape``/``num_classes`` convention checked."""
        from jsonschema import Draft202012Validator  # import on use: only for announced names

        properties = self.params_schema.get("properties", {})
        filled = dict(params)
        for key, prop in properties.items() if isinstance(properties, dict) else ():
            if key not in filled and isinstance(prop, dict) and "default" in prop:
                filled[key] = prop["default"]
        validator = Draft202012Validator(self.params_schema)
        errors = sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))
        if errors:
            raise ParamsError([(tuple(e.absolute_path), e.message) for e in errors])
        _check_convention(filled)
        return filled


def _check_convention(params: dict[str, Any]) -> None:
    shape = params.get("input_shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= MAX_INPUT_RANK
        or not all(type(d) is int and 1 <= d <= MAX_INPUT_DIM for d in shape)
    ):
        raise ParamsError(
            [(("input_shape",), f"must be a list of 1-{MAX_INPUT_RANK} positive integers")]
        )
    classes = params.get("num_classes")
    if type(classes) is not int or classes < 2:
        raise ParamsError([(("num_classes",), "must be an integer >= 2")])


def validate_architecture(
    raw: Any, announced: Mapping[str, AnnouncedArchitecture] | None = None
) -> ArchitectureSpec:
    """The spec with its params validated and defaults filled in. Raises
    ``UnknownArchitecture``, pydantic's ``ValidationError`` (built-ins) or ``ParamsError``
    (announced architectures)."""
    spec = ArchitectureSpec.model_validate(raw)
    if (builtin := BUILTINS.get(spec.name)) is not None:
        params = builtin.params.model_validate(spec.params)
        return ArchitectureSpec(name=spec.name, params=params.model_dump(mode="json"))
    announced = announced or {}
    if spec.name not in announced:
        raise UnknownArchitecture(spec.name, sorted({*BUILTINS, *announced}))
    return ArchitectureSpec(name=spec.name, params=announced[spec.name].validate(spec.params))


def input_shape(spec: ArchitectureSpec) -> tuple[int, ...]:
    """One sample's shape: a chunk's ``x`` is ``(N, *input_shape)``."""
    if (builtin := BUILTINS.get(spec.name)) is not None:
        return builtin.input_shape(builtin.params.model_validate(spec.params))
    return tuple(int(d) for d in spec.params["input_shape"])


def num_classes(spec: ArchitectureSpec) -> int:
    if (builtin := BUILTINS.get(spec.name)) is not None:
        return builtin.num_classes(builtin.params.model_validate(spec.params))
    return int(spec.params["num_classes"])


def expected_state_dict(spec: ArchitectureSpec) -> dict[str, TensorSpec] | None:
    """The torch module's ``state_dict`` tensors for a built-in; None for an announced
    architecture (only a worker can build it)."""
    builtin = BUILTINS.get(spec.name)
    if builtin is None:
        return None
    return builtin.state_dict(builtin.params.model_validate(spec.params))


def parameter_count(spec: ArchitectureSpec) -> int | None:
    """Learned parameters of a built-in (buffers excluded); None for an announced one."""
    tensors = expected_state_dict(spec)
    if tensors is None:
        return None
    return sum(t.numel for t in tensors.values() if t.trainable)
