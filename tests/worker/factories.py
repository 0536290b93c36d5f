"""Rows and objects as the API would have written them, for worker-layer tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import torch
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import AnnouncedArchitecture, validate_architecture
from app.db.models import Chunk, Job, JobKind, Model
from app.schemas.updaters import TrainingConfig, validate_updater
from app.storage import ObjectStore, chunk_key
from tests.e2e.data import ChunkData


def create_model(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    body: dict,
    *,
    weights: Path | None = None,
    initialise: bool = True,
) -> str:
    """A model as ``POST /v1/models`` registers it: ``initialising``, its initialise job
    first in the queue (and its uploaded ``weights`` stored). With ``initialise``, a
    worker then runs that job, so the model is ready at version 0."""
    architecture = validate_architecture(body["architecture"], announced_here())
    training = TrainingConfig.model_validate(body.get("training", {}))
    updater = validate_updater(body.get("updater", {}))
    model = Model(
        name=body.get("name") or f"m-{uuid.uuid4().hex[:8]}",
        architecture=architecture.model_dump(),
        updater=updater.model_dump(),
        training=training.model_dump(),
    )
    with sessions.begin() as session:
        session.add(model)
        session.flush()
        if weights is not None:
            model.initial_weights_key = f"models/{model.id}/initial/test.safetensors"
            store.put_file(weights, model.initial_weights_key)
        session.add(
            Job(
                model_id=model.id,
                kind=JobKind.initialise,
                seq=0,
                updater=updater.model_dump(),
            )
        )
    if initialise:
        from worker.job_runner import JobRunner

        JobRunner(
            sessions=sessions, store=store, device=torch.device("cpu"), owner="factory"
        ).process_model(model.id)
    return model.id


def announced_here() -> dict[str, AnnouncedArchitecture]:
    """The entry-point architectures this process's worker would announce."""
    from worker.architectures import installed

    return {
        a.name: AnnouncedArchitecture(a.name, a.params_schema)
        for a in installed()
        if a.source == "entry-point"
    }


def add_chunk(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    model_id: str,
    data: ChunkData | bytes,
    updater: dict | None = None,
) -> str:
    """Store a chunk (or raw bytes standing for a corrupt one) and queue its job."""
    content = data if isinstance(data, bytes) else data.npz()
    with sessions.begin() as session:
        model = session.get(Model, model_id)
        assert model is not None
        model.chunk_count += 1
        model.job_count += 1
        model.storage_bytes += len(content)
        chunk = Chunk(
            model_id=model_id,
            seq=model.chunk_count,
            object_key="",
            format="npz",
            sha256="0" * 64,
            size_bytes=len(content),
            num_samples=0 if isinstance(data, bytes) else len(data.y),
            num_eval=0 if isinstance(data, bytes) else len(data.y_eval),
        )
        session.add(chunk)
        session.flush()
        chunk.object_key = chunk_key(model_id, chunk.id, "npz")
        store.put_bytes(content, chunk.object_key)
        job = Job(
            model_id=model_id,
            chunk_id=chunk.id,
            seq=model.job_count,
            updater=validate_updater(updater or model.updater).model_dump(),
        )
        session.add(job)
        session.flush()
        return job.id
