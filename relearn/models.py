"""The client's typed results: light pydantic models of the API's JSON.

Defined here, not imported from ``app.schemas``, on purpose: the server's schemas
validate *requests* strictly (unknown keys refused, each updater's hyperparameters
checked), while a client must read *answers* from servers older or newer than itself. So
every model here accepts and keeps fields it does not know (``model_extra``), specs keep
their ``params`` as plain dicts (a new updater or architecture parses), and statuses are
strings. ``tests/client/test_models_match_server.py`` keeps these in step with the
server's response schemas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class Resource(BaseModel):
    """Keeps unknown fields (a newer server's) instead of failing on them."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())


class Spec(Resource):
    """An architecture or updater as a model stores it: ``{"name", "params"}``."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class Model(Resource):
    """A registered model (``GET /v1/models/{id}``)."""

    id: str
    name: str
    latest_version: int
    architecture: Spec
    updater: Spec
    training: dict[str, Any] = Field(default_factory=dict)
    chunk_count: int = 0
    created_at: datetime
    status: str | None = Field(None, description="initialising, ready or failed (wave 2).")
    error: str | None = None
    promotion: dict[str, Any] | None = Field(
        None, description="The gate that moves an alias only to versions passing its bounds."
    )
    retention: dict[str, Any] | None = None
    storage_bytes: int | None = Field(None, description="Bytes its objects take in storage.")


class LossPoint(Resource):
    """The mean training loss when the job was ``progress`` of the way through."""

    progress: float
    loss: float


class Job(Resource):
    """A training job (``GET /v1/jobs/{id}``). ``status``: queued, running, succeeded,
    failed or cancelled; ``progress`` runs 0..1."""

    id: str
    model_id: str
    chunk_id: str | None = None
    kind: str | None = Field(None, description="update, rollback or initialise.")
    seq: int | None = None
    status: str
    progress: float = 0.0
    updater: Spec | None = None
    metrics: dict[str, Any] | None = None
    error: str | None = None
    loss_curve: list[LossPoint] | None = Field(None, description="The training loss so far.")
    base_version: int | None = None
    source_version: int | None = Field(None, description="A rollback's restored version.")
    result_version: int | None = None
    attempts: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        """Final: succeeded, failed or cancelled."""
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


class Version(Resource):
    """A published, immutable model version (``GET /v1/models/{id}/versions/{n}``)."""

    model_id: str
    number: int
    job_id: str | None = None
    chunk_id: str | None = None
    created_at: datetime
    artifact_sha256: str
    artifact_size: int
    pt2_sha256: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    updater: Spec | None = None
    parent: int | None = None
    aliases: list[str] = Field(default_factory=list, description="Aliases naming this version.")


class Chunk(Resource):
    """An accepted data chunk (``GET /v1/models/{id}/chunks``)."""

    id: str
    model_id: str
    seq: int
    format: str
    sha256: str
    size_bytes: int
    num_samples: int
    num_eval: int
    created_at: datetime


class ChunkAccepted(Resource):
    """The 202 of a pushed chunk; the job itself is at ``/v1/jobs/{job_id}``."""

    job_id: str
    chunk_id: str
    status: str = "queued"


class Metrics(Resource):
    """``GET /v1/models/{id}/metrics``: ``accuracy_matrix[i][j]`` is the accuracy on chunk
    j's eval split after the update on chunk i (``None`` where j had no eval split)."""

    chunk_ids: list[str]
    accuracy_matrix: list[list[float | None]]
    average_accuracy: float | None = None
    forgetting: float | None = None
    backward_transfer: float | None = None


class Alias(Resource):
    """A named pointer at a version (``production`` → 7)."""

    alias: str
    version: int
    updated_at: datetime | None = None


class Architecture(Resource):
    """An architecture the service can build (``GET /v1/architectures``)."""

    name: str
    params_schema: dict[str, Any] = Field(default_factory=dict)
    source: str = "builtin"


class Page(Resource, Generic[T]):
    """One page of a list; ``next_cursor`` is ``None`` on the last (or only) page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Artifact:
    """A downloaded artifact: where it was written and what it is (sha256 verified)."""

    path: Path
    model_id: str
    version: int
    format: str
    size: int
    sha256: str
