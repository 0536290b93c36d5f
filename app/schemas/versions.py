"""Shapes of the version resource (``/v1/models/{id}/versions``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.metrics import UpdateMetrics
from app.schemas.updaters import UpdaterConfig

ArtifactFormat = Literal["safetensors", "pt2"]


class VersionPublic(BaseModel):
    model_id: str
    number: int
    job_id: str | None = Field(description="The job that produced it; null for version 0.")
    chunk_id: str | None
    created_at: datetime
    artifact_sha256: str = Field(description="sha256 of model.safetensors (its ETag).")
    artifact_size: int
    pt2_sha256: str | None = Field(
        description="sha256 of model.pt2; null until the worker has exported it, which "
        "follows the version's publication (the download answers 409 + Retry-After)."
    )
    metrics: UpdateMetrics
    updater: UpdaterConfig | None
    parent: int | None = Field(
        default=None,
        description="The version this one was made from: its update's base, or the version "
        "a rollback restored; null for version 0.",
    )
    aliases: list[str] = Field(default_factory=list, description="Aliases pointing here.")


class VersionList(BaseModel):
    items: list[VersionPublic]
    next_cursor: str | None = Field(
        default=None, description="Pass as ``cursor`` for the next page; null on the last."
    )
