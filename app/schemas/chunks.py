"""Shapes of the chunk resource (``/v1/models/{id}/chunks``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ChunkAccepted(BaseModel):
    """The 202 body of an accepted chunk; the job is at ``Location: /v1/jobs/{job_id}``."""

    job_id: str
    chunk_id: str
    status: Literal["queued"] = "queued"


class ChunkPublic(BaseModel):
    id: str
    model_id: str
    seq: int = Field(description="Submission order within the model, from 1.")
    format: str
    sha256: str
    size_bytes: int
    num_samples: int
    num_eval: int
    created_at: datetime


class ChunkList(BaseModel):
    items: list[ChunkPublic]
    next_cursor: str | None = Field(
        default=None, description="Pass as ``cursor`` for the next page; null on the last."
    )
