"""Registering models and reading them back.

The API has no torch, so it does not make version 0: registration validates the spec
(and the uploaded weights, where it can tell they fit), stores the weights, then commits
the model (``initialising``) with an *initialise* job first in its queue, and nudges a
worker after the commit. The worker builds the architecture, publishes version 0 from
its seeded initialisation or the uploaded weights, and marks the model ``ready`` — or
``failed`` when the weights do not fit. Chunks may queue behind the initialise job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.architectures import ArchitectureSpec, expected_state_dict, parameter_count
from app.db.models import Job, JobKind, JobStatus, Model, ModelStatus, new_id
from app.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from app.pretrained_weights import (
    Expected,
    WeightsFileError,
    misfit_message,
    misfits,
    read_weights,
)
from app.queue import TaskQueue
from app.schemas.field_errors import ensure_finite
from app.schemas.models import ModelCreate, checked_architecture, checked_updater
from app.services.architectures import announced_architectures
from app.services.orphans import delete_object_quietly
from app.services.tenants import may_see, owner_for_new_model, session_tenant
from app.storage import ObjectStore

log = logging.getLogger(__name__)

# A worker holds the model in memory to train it; past this size a model is refused (422).
# 50M float32 parameters = 200 MB of weights.
MAX_PARAMETERS = 50_000_000
WEIGHTS_FIELD = "weights"


@dataclass(frozen=True)
class UploadedWeights:
    """A pretrained ``state_dict`` (safetensors), complete on local disk."""

    path: Path


def is_valid_id(value: str) -> bool:
    """Ids are 32 lowercase hex characters; anything else cannot exist, so it is answered
    404 without a query (and never reaches the database as a malformed literal)."""
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def get_model(*, session: Session, model_id: str) -> Model:
    """The model, 404 also where it belongs to another tenant than the session's."""
    model = session.get(Model, model_id) if is_valid_id(model_id) else None
    if model is None or not may_see(session, model.tenant):
        raise NotFound(f"no model {model_id!r}", field="model_id")
    return model


def ensure_accepts_chunks(model: Model) -> None:
    """409 for a ``failed`` model: it has no version 0, so no chunk can ever apply."""
    if model.status == ModelStatus.failed:
        raise Conflict(
            f"model {model.id} failed and accepts no chunks: {model.error}. Register a new "
            "model (with weights that fit the architecture).",
            field="model_id",
        )


def list_models(*, session: Session) -> list[Model]:
    query = select(Model).order_by(Model.created_at, Model.id)
    if (tenant := session_tenant(session)) is not None:
        query = query.where(Model.tenant == tenant)
    return list(session.scalars(query))


def initial_weights_key(model_id: str) -> str:
    return f"models/{model_id}/initial/{new_id()[:12]}.safetensors"


def create_model(
    *,
    session: Session,
    store: ObjectStore,
    tasks: TaskQueue,
    body: ModelCreate,
    weights: UploadedWeights | None = None,
) -> Model:
    """Validate, store the weights, commit the model with its initialise job, then enqueue."""
    architecture = checked_architecture(body.architecture, announced_architectures(session=session))
    updater = checked_updater(body.updater.model_dump())
    ensure_finite(body.training.model_dump(), "training")
    if (count := parameter_count(architecture)) is not None and count > MAX_PARAMETERS:
        raise InvalidInput(
            f"architecture.params: the model would have {count} parameters, more than the "
            f"{MAX_PARAMETERS} this service accepts",
            field="architecture.params",
        )
    if weights is not None:
        check_weights(weights.path, architecture)

    model_id = new_id()
    key = None
    if weights is not None:
        key = initial_weights_key(model_id)
        try:
            store.put_file(weights.path, key)
        except Exception as exc:
            log.exception("storing the weights of model %s failed", model_id)
            delete_object_quietly(store, key)
            raise ServiceUnavailable("object storage is unavailable; retry later") from exc
    model = Model(
        id=model_id,
        name=body.name,
        tenant=owner_for_new_model(session),
        architecture=architecture.model_dump(),
        updater=updater.model_dump(),
        training=body.training.model_dump(),
        latest_version=0,
        status=ModelStatus.initialising,
        chunk_count=0,
        initial_weights_key=key,
    )
    job = Job(
        id=new_id(),
        model_id=model_id,
        kind=JobKind.initialise,
        chunk_id=None,
        seq=0,  # chunks are 1, 2, ...: version 0 comes first
        status=JobStatus.queued,
        progress=0.0,
        attempts=0,
        updater=updater.model_dump(),
    )
    try:
        session.add(model)
        session.flush()
        session.add(job)
        session.commit()
    except BaseException:
        session.rollback()
        if key is not None:
            delete_object_quietly(store, key)
        raise
    tasks.model_has_work(model_id, job.id)
    return model


def check_weights(path: Path, architecture: ArchitectureSpec) -> None:
    """422 (field ``weights``) unless the file is a sound safetensors file of finite
    tensors that, for a built-in, match its ``state_dict`` name for name and shape for
    shape. An entry-point architecture's fit is checked by the worker."""
    try:
        tensors = read_weights(path)
    except WeightsFileError as exc:
        raise InvalidInput(f"{WEIGHTS_FIELD}: {exc}", field=WEIGHTS_FIELD) from None
    expected = expected_state_dict(architecture)
    if expected is None:
        return
    problems = misfits(
        {name: Expected(t.shape, t.dtype) for name, t in expected.items()},
        {name: Expected(t.shape, t.dtype) for name, t in tensors.items()},
    )
    if problems:
        raise InvalidInput(f"{WEIGHTS_FIELD}: {misfit_message(problems)}", field=WEIGHTS_FIELD)
