"""Shape of a rollback request (``POST /v1/models/{id}/rollback``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RollbackRequest(BaseModel):
    """Publish a new version holding this version's weights and updater state."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(
        ge=0, le=2**31 - 1, description="The version to restore (an existing, kept one)."
    )
