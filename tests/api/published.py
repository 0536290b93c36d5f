"""Versions as a worker publishes them (objects first, then one transaction), for tests of
the read side of the API. The worker itself does not run in the API tests."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from app.db.models import Job, JobStatus, Model, ModelVersion, utcnow
from app.storage import MODEL_FILE, PT2_FILE, version_prefix
from tests.api.harness import Api


def publish_version(
    api: Api,
    model_id: str,
    job_id: str,
    accuracy: list[float | None],
    weights: bytes = b"weights",
    program: bytes | None = b"program",
) -> int:
    with api.sessions.begin() as session:
        model = session.get(Model, model_id)
        job = session.get(Job, job_id)
        assert model is not None and job is not None
        number = model.latest_version + 1
        prefix = version_prefix(model_id, number, "test")
        api.store.put_bytes(weights, f"{prefix}/{MODEL_FILE}")
        if program is not None:
            api.store.put_bytes(program, f"{prefix}/{PT2_FILE}")
        # As the worker writes it: one entry per chunk applied so far, then this one.
        applied = session.scalars(
            select(ModelVersion.chunk_id)
            .where(ModelVersion.model_id == model_id, ModelVersion.number >= 1)
            .order_by(ModelVersion.number)
        ).all()
        metrics: dict[str, Any] = {
            "accuracy": accuracy,
            "chunk_ids": [*applied, job.chunk_id],
            "train": {"loss": 0.5},
        }
        session.add(
            ModelVersion(
                model_id=model_id,
                number=number,
                job_id=job_id,
                chunk_id=job.chunk_id,
                prefix=prefix,
                artifact_sha256=hashlib.sha256(weights).hexdigest(),
                artifact_size=len(weights),
                pt2_sha256=hashlib.sha256(program).hexdigest() if program is not None else None,
                updater=job.updater,
                metrics=metrics,
            )
        )
        model.latest_version = number
        job.status = JobStatus.succeeded
        job.progress = 1.0
        job.result_version = number
        job.metrics = metrics
        job.finished_at = utcnow()
        return number
