"""Shapes of the alias resource (``/v1/models/{id}/aliases``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class AliasSet(BaseModel):
    """``PUT /v1/models/{id}/aliases/{alias}``: point the alias at this version."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, le=2**31 - 1, description="An existing version number.")


class AliasPublic(BaseModel):
    alias: str
    version: int
    updated_at: datetime


class AliasList(BaseModel):
    items: list[AliasPublic]
    next_cursor: str | None = Field(
        default=None, description="Pass as ``cursor`` for the next page; null on the last."
    )
