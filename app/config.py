"""The one settings object, read by the API, the worker and the CLI alike.

Every setting comes from the environment with the ``RELEARN_`` prefix. With none set,
relearn runs on embedded defaults under ``RELEARN_HOME`` (default ``./.relearn``):
SQLite, a local folder for objects and kombu's filesystem broker, which needs no server.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path(".relearn")
DEFAULT_MAX_CHUNK_BYTES = 512 * 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELEARN_", extra="ignore")

    home: Path = Field(DEFAULT_HOME, description="Folder for the embedded defaults.")
    host: str = "127.0.0.1"
    port: int = 8000

    # Filled in by ``_embedded_defaults`` when unset (or None), so always a str here.
    database_url: str = Field(
        description="SQLAlchemy URL; default sqlite:///$RELEARN_HOME/relearn.db"
    )
    storage_url: str = Field(
        description="fsspec URL of the object store root; default $RELEARN_HOME/objects"
    )
    broker_url: str = Field(description="Celery broker URL; default kombu's filesystem transport")
    # s3fs options (MinIO, moto): endpoint and credentials. AWS_* variables work as well.
    s3_endpoint_url: str | None = None
    s3_key: str | None = None
    s3_secret: str | None = None

    # Limits on a chunk upload (README, "Running it safely"). The decoded size bounds what
    # a compressed .npz may inflate to; unset, it equals max_chunk_bytes.
    max_chunk_bytes: int = Field(DEFAULT_MAX_CHUNK_BYTES, gt=0, description="Upload size limit.")
    max_decoded_chunk_bytes: int = Field(gt=0, description="Limit on a chunk's arrays, decoded.")
    # Float features beyond this (after the cast to float32) are refused: squared in Adam's
    # second moment or in GEM's dot products they would overflow float32.
    max_abs_feature: float = Field(1e6, gt=0, le=3.4e38)
    # Object storage (s3fs): per-request timeouts and attempts, and a deadline for a whole
    # upload (base seconds plus its size at the slowest acceptable rate), so that an
    # unreachable or hung store turns into a 503, never into a request that hangs.
    s3_connect_timeout_seconds: float = Field(5.0, gt=0)
    s3_read_timeout_seconds: float = Field(10.0, gt=0)
    s3_max_attempts: int = Field(2, ge=1, le=10)
    s3_put_deadline_seconds: float = Field(60.0, gt=0)
    s3_put_min_bytes_per_second: int = Field(1024 * 1024, gt=0)
    # What one model may claim on a worker (app/services/resources.py): its replay
    # memory in bytes and its learned parameters.
    max_memory_buffer_bytes: int = Field(8 * 1024**3, gt=0)
    max_parameters: int = Field(50_000_000, gt=0)
    # API keys (README, "Running it safely"): "auto" asks for a key once any key exists,
    # "required" always does, "off" never does (and lets `serve` listen beyond loopback).
    auth: Literal["auto", "required", "off"] = "auto"
    queue_name: str = "gpu"
    # A job's model lease expires this long after the worker's last heartbeat.
    lease_seconds: float = Field(120.0, gt=0)
    # How often each worker re-sends work for models whose jobs have no live lease.
    reconcile_seconds: float = Field(30.0, gt=0)
    # How often a worker looks for a message on the embedded (filesystem) broker, which
    # cannot wake it up: the most a job waits in the queue before it starts.
    broker_polling_seconds: float = Field(0.05, gt=0, le=10)
    # Eval splits a worker keeps on its device between jobs of a model (LRU), in bytes;
    # 0 turns the cache off (every job reads every earlier split from storage).
    eval_cache_bytes: int = Field(512 * 1024**2, ge=0)
    # Redis visibility timeout: longer than the longest job, or Redis redelivers it.
    visibility_timeout_seconds: int = Field(24 * 3600, gt=0)
    device: str = Field("auto", description="torch device for the worker: auto, cpu, cuda:N")
    log_level: str = "INFO"
    # Log lines (app/logs.py): "auto" is JSON unless stderr is a terminal (key=value there).
    log_format: Literal["auto", "json", "keyvalue"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _embedded_defaults(cls, data: Any) -> Any:
        """Fill the URLs left unset (or None) with the embedded defaults under ``home``."""
        if not isinstance(data, dict):
            return data
        home = data.get("home")
        home = Path(DEFAULT_HOME if home is None else home).resolve()
        defaults = {
            "database_url": f"sqlite:///{home / 'relearn.db'}",
            "storage_url": str(home / "objects"),
            "broker_url": "filesystem://",
        }
        return data | {k: v for k, v in defaults.items() if data.get(k) is None}

    @model_validator(mode="before")
    @classmethod
    def _decoded_size_default(cls, data: Any) -> Any:
        """``max_decoded_chunk_bytes`` left unset (or None) is ``max_chunk_bytes``."""
        if not isinstance(data, dict) or data.get("max_decoded_chunk_bytes") is not None:
            return data
        upload_limit = data.get("max_chunk_bytes")
        upload_limit = DEFAULT_MAX_CHUNK_BYTES if upload_limit is None else upload_limit
        return data | {"max_decoded_chunk_bytes": upload_limit}

    @property
    def is_embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    @property
    def broker_folder(self) -> Path:
        """Folder of kombu's filesystem transport (embedded default only)."""
        return self.home.resolve() / "broker"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
