"""Shapes of the job resource (``/v1/jobs/{id}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.schemas.updaters import UpdaterSpec

JobStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class LossPoint(BaseModel):
    progress: float = Field(description="Fraction of the job's training done (0..1).")
    loss: float = Field(description="Mean training loss of the current epoch's steps so far.")


class JobPublic(BaseModel):
    id: str
    model_id: str
    chunk_id: str | None = Field(
        None, description="The chunk this job applies; none for a model's initialise job."
    )
    seq: int = Field(description="The chunk's submission order within the model.")
    status: JobStatusName
    progress: float = Field(description="0..1; 1 once succeeded.")
    loss_curve: list[LossPoint] | None = Field(
        None,
        description="The training loss so far, one point per progress report of the worker; "
        "null until it reports one.",
    )
    updater: UpdaterSpec
    metrics: dict[str, Any] | None
    error: str | None
    base_version: int | None = Field(description="The version this job trains from.")
    result_version: int | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobList(BaseModel):
    items: list[JobPublic]
    next_cursor: str | None = Field(
        default=None, description="Pass as ``cursor`` for the next page; null on the last."
    )
