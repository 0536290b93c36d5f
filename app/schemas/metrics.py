"""Shape of ``GET /v1/models/{id}/metrics``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelMetrics(BaseModel):
    chunk_ids: list[str] = Field(description="Chunk of each version 1..latest (the columns).")
    accuracy_matrix: list[list[float | None]] = Field(
        description="[i][j]: accuracy on chunk j's eval split after the update on chunk i; "
        "row i has i+1 entries; null where chunk j brought no eval split."
    )
    average_accuracy: float | None = Field(description="ACC of the last row (GEM).")
    forgetting: float | None = Field(description="Average forgetting (Chaudhry et al. 2018).")
    backward_transfer: float | None = Field(description="BWT of the last row (GEM).")
