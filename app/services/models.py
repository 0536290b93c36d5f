"""Registering models and reading them back.

Registration writes version 0 (the seeded initial weights, computed with numpy: the API
has no torch) to storage *before* the rows that make it visible, then commits the model and
its version 0 in one transaction. Version 0 carries no updater state: the worker treats a
version without ``state.json`` as a fresh start. Its ``.pt2`` program is exported by a
worker task sent after the commit.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from safetensors.numpy import save_file
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.architectures import ArchitectureSpec, initial_weights, mlp_layer_sizes
from app.db.models import Model, ModelVersion, new_id
from app.errors import InvalidInput, NotFound, ServiceUnavailable
from app.queue import TaskQueue
from app.schemas.field_errors import ensure_finite
from app.schemas.models import ModelCreate, checked_architecture, checked_updater
from app.services.orphans import delete_prefix_quietly
from app.storage import MODEL_FILE, ObjectStore, sha256_file, version_prefix

log = logging.getLogger(__name__)

# The API computes version 0 in memory; past this size a model is refused (422) rather
# than risking the API process's memory. 50M float32 parameters = 200 MB of weights.
MAX_INITIAL_PARAMETERS = 50_000_000


def is_valid_id(value: str) -> bool:
    """Ids are 32 lowercase hex characters; anything else cannot exist, so it is answered
    404 without a query (and never reaches the database as a malformed literal)."""
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def get_model(*, session: Session, model_id: str) -> Model:
    model = session.get(Model, model_id) if is_valid_id(model_id) else None
    if model is None:
        raise NotFound(f"no model {model_id!r}", field="model_id")
    return model


def list_models(*, session: Session) -> list[Model]:
    return list(session.scalars(select(Model).order_by(Model.created_at, Model.id)))


def parameter_count(architecture: ArchitectureSpec) -> int:
    if architecture.name == "mlp":
        return sum(
            fan_in * fan_out + fan_out for fan_in, fan_out in mlp_layer_sizes(architecture.params)
        )
    raise ValueError(architecture.name)


def create_model(
    *, session: Session, store: ObjectStore, tasks: TaskQueue, body: ModelCreate
) -> Model:
    architecture = checked_architecture(body.architecture)
    updater = checked_updater(body.updater.model_dump())
    ensure_finite(body.training.model_dump(), "training")
    if (count := parameter_count(architecture)) > MAX_INITIAL_PARAMETERS:
        raise InvalidInput(
            f"architecture.params: the model would have {count} parameters, more than the "
            f"{MAX_INITIAL_PARAMETERS} this service accepts",
            field="architecture.params",
        )

    model_id = new_id()
    prefix = version_prefix(model_id, 0, new_id()[:12])
    sha256, size = _write_initial_weights(store, prefix, model_id, architecture, body)
    model = Model(
        id=model_id,
        name=body.name,
        architecture=architecture.model_dump(),
        updater=updater.model_dump(),
        training=body.training.model_dump(),
        latest_version=0,
        chunk_count=0,
    )
    try:
        session.add(model)
        session.flush()
        session.add(
            ModelVersion(
                model_id=model_id,
                number=0,
                prefix=prefix,
                artifact_sha256=sha256,
                artifact_size=size,
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        delete_prefix_quietly(store, prefix)
        raise
    tasks.export_version(model_id, 0)
    return model


def _write_initial_weights(
    store: ObjectStore,
    prefix: str,
    model_id: str,
    architecture: ArchitectureSpec,
    body: ModelCreate,
) -> tuple[str, int]:
    metadata = {
        "relearn.architecture": json.dumps(architecture.model_dump(), sort_keys=True),
        "relearn.model_id": model_id,
        "relearn.version": "0",
    }
    with tempfile.TemporaryDirectory(prefix="relearn-v0-") as tmp:
        path = Path(tmp) / MODEL_FILE
        save_file(initial_weights(architecture, body.training.seed), str(path), metadata)
        try:
            store.put_file(path, f"{prefix}/{MODEL_FILE}")
        except Exception as exc:
            log.exception("writing version 0 of model %s failed", model_id)
            delete_prefix_quietly(store, prefix)
            raise ServiceUnavailable("object storage is unavailable; retry later") from exc
        return sha256_file(path), path.stat().st_size
