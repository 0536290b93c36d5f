"""Rows and objects as the API would have written them, for worker-layer tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

from safetensors.numpy import save_file
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import initial_weights, validate_architecture
from app.db.models import Chunk, Job, Model, ModelVersion
from app.schemas.updaters import TrainingConfig, validate_updater
from app.storage import MODEL_FILE, ObjectStore, chunk_key, sha256_file, version_prefix
from tests.e2e.data import ChunkData


def create_model(sessions: sessionmaker[Session], store: ObjectStore, body: dict) -> str:
    architecture = validate_architecture(body["architecture"])
    training = TrainingConfig.model_validate(body.get("training", {}))
    updater = validate_updater(body.get("updater", {}))
    model = Model(
        name=body.get("name", "m"),
        architecture=architecture.model_dump(),
        updater=updater.model_dump(),
        training=training.model_dump(),
    )
    with sessions.begin() as session:
        session.add(model)
        session.flush()
        prefix = version_prefix(model.id, 0, "test")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / MODEL_FILE
            save_file(initial_weights(architecture, training.seed), str(path))
            store.put_file(path, f"{prefix}/{MODEL_FILE}")
            session.add(
                ModelVersion(
                    model_id=model.id,
                    number=0,
                    prefix=prefix,
                    artifact_sha256=sha256_file(path),
                    artifact_size=path.stat().st_size,
                )
            )
        return model.id


def add_chunk(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    model_id: str,
    data: ChunkData | bytes,
    updater: dict | None = None,
) -> str:
    """Store a chunk (or raw bytes standing for a corrupt one) and queue its job."""
    with sessions.begin() as session:
        model = session.get(Model, model_id)
        assert model is not None
        model.chunk_count += 1
        chunk = Chunk(
            model_id=model_id,
            seq=model.chunk_count,
            object_key="",
            format="npz",
            sha256="0" * 64,
            size_bytes=0,
            num_samples=0 if isinstance(data, bytes) else len(data.y),
            num_eval=0 if isinstance(data, bytes) else len(data.y_eval),
        )
        session.add(chunk)
        session.flush()
        chunk.object_key = chunk_key(model_id, chunk.id, "npz")
        store.put_bytes(data if isinstance(data, bytes) else data.npz(), chunk.object_key)
        job = Job(
            model_id=model_id,
            chunk_id=chunk.id,
            seq=chunk.seq,
            updater=validate_updater(updater or model.updater).model_dump(),
        )
        session.add(job)
        session.flush()
        return job.id
