"""Shape of ``GET /healthz``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class WorkersHealth(BaseModel):
    alive: int = Field(description="Workers whose heartbeat is recent (last 30 s).")
    last_seen_seconds_ago: float | None = Field(
        description="Since any worker's last heartbeat; null if no worker ever ran."
    )


class QueueHealth(BaseModel):
    queued: int = Field(description="Jobs waiting for a worker.")
    oldest_wait_seconds: float | None = Field(
        description="How long the longest-waiting queued job has waited; null with none."
    )


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="ok: the API, its database, object store and broker answer (with no "
        "worker alive, too: see workers); degraded: the store or the broker does not."
    )
    database: Literal["ok"] = Field(description="Without it the answer is a 503 problem.")
    storage: Literal["ok", "unavailable"] = Field(
        description="The object store answered within 2 s."
    )
    broker: Literal["ok", "unavailable"] = Field(description="The broker answered within 2 s.")
    workers: WorkersHealth
    queue: QueueHealth

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "ok",
                    "database": "ok",
                    "storage": "ok",
                    "broker": "ok",
                    "workers": {"alive": 1, "last_seen_seconds_ago": 3.2},
                    "queue": {"queued": 2, "oldest_wait_seconds": 4.5},
                }
            ]
        }
    }
