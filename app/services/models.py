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

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.architectures import ArchitectureSpec, expected_state_dict
from app.db.models import JobKind, Model, ModelStatus, new_id
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
from app.services.pages import Page, PageRequest
from app.services.queue_place import queued_job
from app.services.resources import DEFAULT_MAX_PARAMETERS, ResourceLimits, ensure_within_limits
from app.services.tenants import may_see, owner_for_new_model, session_tenant
from app.storage import ObjectStore

log = logging.getLogger(__name__)

# The default bound on an entry-point model's parameters, checked by the worker that
# builds it (a built-in's is checked here: app/services/resources.py).
MAX_PARAMETERS = DEFAULT_MAX_PARAMETERS
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
    if model is None or model.deleted_at is not None or not may_see(session, model.tenant):
        raise NotFound(f"no model {model_id!r}", field="model_id")
    return model


def find_by_name(*, session: Session, name: str, tenant: str) -> Model | None:
    """The tenant's live model called ``name`` (unique per tenant among live models)."""
    return session.scalar(
        select(Model).where(Model.tenant == tenant, Model.name == name, Model.deleted_at.is_(None))
    )


def ensure_name_free(*, session: Session, name: str) -> None:
    """409 naming the model that already has this name."""
    tenant = owner_for_new_model(session)
    if (existing := find_by_name(session=session, name=name, tenant=tenant)) is not None:
        raise Conflict(
            f"name: a model named {name!r} exists already (id {existing.id}); names are "
            "unique. Choose another name, or delete that model first.",
            field="name",
        )


def ensure_accepts_chunks(model: Model) -> None:
    """409 for a ``failed`` model: it has no version 0, so no chunk can ever apply."""
    if model.status == ModelStatus.failed:
        raise Conflict(
            f"model {model.id} failed and accepts no chunks: {model.error}. Register a new "
            "model (with weights that fit the architecture).",
            field="model_id",
        )


def list_models(
    *,
    session: Session,
    page: PageRequest | None = None,
    name: str | None = None,
    status: str | None = None,
    updater: str | None = None,
) -> Page[Model]:
    """Live models, oldest first, optionally only those with this name, status or default
    updater; one page at a time (the cursor is the last id of the previous page)."""
    page = page or PageRequest()
    query = select(Model).where(Model.deleted_at.is_(None))
    if (tenant := session_tenant(session)) is not None:
        query = query.where(Model.tenant == tenant)
    if name is not None:
        query = query.where(Model.name == name)
    if status is not None:
        query = query.where(Model.status == status)
    if updater is not None:
        query = query.where(Model.updater["name"].as_string() == updater)
    if page.cursor is not None:
        after = session.get(Model, page.cursor) if is_valid_id(page.cursor) else None
        if after is None:
            raise InvalidInput("cursor: not a cursor this list gave out", field="cursor")
        query = query.where(tuple_(Model.created_at, Model.id) > tuple_(after.created_at, after.id))
    rows = list(session.scalars(query.order_by(Model.created_at, Model.id).limit(page.limit + 1)))
    return Page.of(rows, page.limit, lambda m: m.id)


def initial_weights_key(model_id: str) -> str:
    return f"models/{model_id}/initial/{new_id()[:12]}.safetensors"


def create_model(
    *,
    session: Session,
    store: ObjectStore,
    tasks: TaskQueue,
    body: ModelCreate,
    weights: UploadedWeights | None = None,
    resources: ResourceLimits = ResourceLimits(),
) -> Model:
    """Validate, store the weights, commit the model with its initialise job, then enqueue."""
    architecture = checked_architecture(body.architecture, announced_architectures(session=session))
    updater = checked_updater(body.updater.model_dump())
    ensure_finite(body.training.model_dump(), "training")
    ensure_within_limits(architecture, updater, resources)
    if weights is not None:
        check_weights(weights.path, architecture)
    ensure_name_free(session=session, name=body.name)

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
        promotion=body.promotion.model_dump() if body.promotion else None,
        retention=body.retention.model_dump() if body.retention else None,
        latest_version=0,
        status=ModelStatus.initialising,
        chunk_count=0,
        initial_weights_key=key,
        storage_bytes=weights.path.stat().st_size if weights is not None else 0,
    )
    job = queued_job(  # place 0: every later job comes after version 0
        model_id=model_id, seq=0, updater=updater.model_dump(), kind=JobKind.initialise
    )
    try:
        session.add(model)
        session.flush()
        session.add(job)
        session.commit()
    except BaseException as exc:
        session.rollback()
        if key is not None:
            delete_object_quietly(store, key)
        if isinstance(exc, IntegrityError):  # the same name, registered a moment ago
            ensure_name_free(session=session, name=body.name)
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
