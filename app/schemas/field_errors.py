"""Turning pydantic's errors into ``FieldError``s rooted at the request field they came
from, and the checks pydantic's types do not make (finite numbers)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from app.errors import FieldError, InvalidInput
from app.schemas.tagged_union import without_tags


def field_path(parts: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in parts)


def field_errors(exc: ValidationError, prefix: Sequence[str | int] = ()) -> list[FieldError]:
    return [
        FieldError(field_path((*prefix, *without_tags(e["loc"]))) or "body", e["msg"])
        for e in exc.errors(include_url=False, include_input=False)
    ]


def invalid(exc: ValidationError, prefix: Sequence[str | int] = ()) -> InvalidInput:
    return InvalidInput.from_errors(field_errors(exc, prefix))


def ensure_finite(value: Any, prefix: str) -> None:
    """Refuse NaN and infinities anywhere in a JSON-like value. Python's JSON parser
    accepts ``NaN``/``Infinity`` and a bound like ``ge=0`` lets ``inf`` through, but such a
    value would poison training and cannot be written back as standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{prefix}: must be a finite number", field=prefix)
    if isinstance(value, dict):
        for key, item in value.items():
            ensure_finite(item, f"{prefix}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            ensure_finite(item, f"{prefix}.{i}")
