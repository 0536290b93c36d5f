"""Database rows. The schema changes only through Alembic migrations (``alembic/``).

Rows never leave the API as they are: ``app/schemas`` turns them into public shapes.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


# The tenant of every model made while the API has no keys (and of older models).
DEFAULT_TENANT = "default"


class ModelStatus(enum.StrEnum):
    initialising = "initialising"  # version 0 not made yet (its initialise job is pending)
    ready = "ready"
    failed = "failed"  # version 0 could not be made (weights that do not fit); see error


class JobKind(enum.StrEnum):
    initialise = "initialise"  # make version 0 (no chunk)
    update = "update"  # apply a chunk
    rollback = "rollback"  # publish latest+1 from an earlier version's weights and state


class Model(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    # Whose model it is: only API keys of this tenant see it (DEFAULT_TENANT without keys).
    tenant: Mapped[str] = mapped_column(String(100), default=DEFAULT_TENANT, index=True)
    architecture: Mapped[dict[str, Any]]
    updater: Mapped[dict[str, Any]]
    training: Mapped[dict[str, Any]]
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default=ModelStatus.initialising)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The uploaded pretrained weights that version 0 is made of (None: seeded init).
    initial_weights_key: Mapped[str | None] = mapped_column(String(500), default=None)
    # Chunks get per-model sequence numbers 1, 2, ... in submission order.
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    # Places in the model's queue (jobs' seq: 0 the initialise job, then 1, 2, ... for
    # chunk, retry and rollback jobs in the order they were queued).
    job_count: Mapped[int] = mapped_column(Integer, default=0)
    # Bytes of the model's objects (chunks, versions, uploaded weights), kept up to date at
    # upload, publish and prune (never by listing the store).
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # The update lease: one worker at a time updates a model.
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Registry (issue 11): set at DELETE; the model is gone from the API at once and the
    # reconciler's sweeper removes its objects, then its rows.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # {"alias", "min_average_accuracy", "max_forgetting", "max_accuracy_drop"} or None.
    promotion: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # {"keep_chunks": int | None, "keep_versions": int | None} or None (keep everything).
    retention: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


Index(
    "uq_models_live_tenant_name",
    Model.tenant,
    Model.name,
    unique=True,
    postgresql_where=Model.deleted_at.is_(None),
    sqlite_where=Model.deleted_at.is_(None),
)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("model_id", "seq", name="uq_chunks_model_seq"),
        UniqueConstraint("model_id", "idempotency_key", name="uq_chunks_model_idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    object_key: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    num_samples: Mapped[int] = mapped_column(Integer)
    num_eval: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once retention removed the raw chunk object (its eval split stays).
    pruned_at: Mapped[datetime | None] = mapped_column(default=None)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("model_id", "seq", name="uq_jobs_model_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default=JobKind.update)
    # None for the initialise job (seq 0, first in the model's queue).
    chunk_id: Mapped[str | None] = mapped_column(
        ForeignKey("chunks.id", ondelete="CASCADE"), default=None
    )
    seq: Mapped[int] = mapped_column(Integer)  # the place in the queue (Model.job_count)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued, index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    # The training loss so far: [{"progress": 0..1, "loss": float}, ...], bounded in length.
    loss_curve: Mapped[list[dict[str, float]] | None] = mapped_column(JSON, default=None)
    updater: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    base_version: Mapped[int | None] = mapped_column(Integer, default=None)
    result_version: Mapped[int | None] = mapped_column(Integer, default=None)
    # A rollback job: the version whose weights and updater state it republishes.
    source_version: Mapped[int | None] = mapped_column(Integer, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), default=None)
    chunk_id: Mapped[str | None] = mapped_column(ForeignKey("chunks.id"), default=None)
    # Objects of this version live under this storage prefix (unique per attempt, so a
    # zombie attempt can never overwrite a published version).
    prefix: Mapped[str] = mapped_column(String(500))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_size: Mapped[int] = mapped_column(BigInteger)
    pt2_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    updater: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # {"accuracy": [acc on chunk 1 eval, ..., acc on this chunk's eval] (None where a
    #  chunk brought no eval split), "train": {...fit report...}}
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The version this one was made from: the base of its update, or the version a
    # rollback restored (None for version 0).
    parent: Mapped[int | None] = mapped_column(Integer, default=None)
    # Bytes of this version's objects; 0 once retention removed them.
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # Set when retention prunes the version (gone from the API: 410); its row stays, so
    # that the accuracy matrix stays exact.
    pruned_at: Mapped[datetime | None] = mapped_column(default=None)


class Alias(Base):
    """A named pointer at one of a model's versions (``production``, ``staging``...)."""

    __tablename__ = "aliases"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Worker(Base):
    """A worker process: what it can build, and when it was last seen (its heartbeat)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # [{"name", "source": "builtin" | "entry-point", "params_schema"}]
    architectures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ApiKey(Base):
    """An API key of a tenant. Only the key's sha256 is stored: the key itself is shown
    once, when it is made (``relearn keys create``). A revoked key stays, so that revoking
    the last key never reopens the API to requests without one."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    key_hash: Mapped[str] = mapped_column(String(64))
    # The key's first characters, to tell keys apart in ``relearn keys list``.
    prefix: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
