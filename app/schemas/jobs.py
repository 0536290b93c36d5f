"""Shapes of the job resource (``/v1/jobs/{id}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.metrics import UpdateMetrics
from app.schemas.updaters import UpdaterConfig

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
    kind: Literal["initialise", "update", "rollback"] = Field(
        "update",
        description="update: applies a chunk; rollback: republishes source_version; "
        "initialise: makes version 0.",
    )
    seq: int = Field(
        description="The job's place in the model's queue (jobs run in this order; chunks "
        "carry their own numbers)."
    )
    status: JobStatusName
    progress: float = Field(description="0..1; 1 once succeeded.")
    loss_curve: list[LossPoint] | None = Field(
        None,
        description="The training loss so far, one point per progress report of the worker "
        "(at most 200, thinned evenly over the run; the last is the latest report); null "
        "until it reports one.",
    )
    updater: UpdaterConfig
    metrics: UpdateMetrics | None = Field(description="What the job measured; null until it ends.")
    error: str | None
    base_version: int | None = Field(description="The version this job trains from.")
    source_version: int | None = Field(
        None, description="A rollback: the version whose weights and state it republishes."
    )
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
