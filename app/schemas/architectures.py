"""Shapes of the architecture listing (``/v1/architectures``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ArchitecturePublic(BaseModel):
    name: str
    params_schema: dict[str, Any] = Field(description="JSON schema of the architecture's params.")
    source: Literal["builtin", "entry-point"] = Field(
        description="builtin, or an entry point installed where the workers run."
    )


class ArchitectureList(BaseModel):
    items: list[ArchitecturePublic]
