"""``/v1/models``: register a model (JSON, or multipart with pretrained weights), list, read.

The registration route reads its body itself (``app/api/model_form.py``): JSON or a
multipart form whose weights file is streamed to disk under a size limit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SettingsDep, StoreDep, TasksDep
from app.api.model_form import openapi_body, read_model_form
from app.api.paging import PageDep
from app.db.models import Model
from app.schemas.models import ModelList, ModelPublic, ModelStatusName, ModelUpdate
from app.schemas.problem import problem_responses
from app.services import deletion, model_update
from app.services import models as service
from app.services.resources import ResourceLimits

router = APIRouter(prefix="/v1/models", tags=["models"])


def model_public(model: Model) -> ModelPublic:
    return ModelPublic.model_validate(model, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelPublic,
    openapi_extra=openapi_body(),
    responses=problem_responses(400, 409, 413, 415, 422, 503),
)
async def create_model(
    request: Request, session: SessionDep, store: StoreDep, tasks: TasksDep, settings: SettingsDep
) -> ModelPublic:
    """201 with ``status: initialising``: a worker makes version 0 (seeded, or the
    uploaded ``weights``) and the model turns ``ready`` — or ``failed`` with an ``error``."""
    with tempfile.TemporaryDirectory(prefix="relearn-weights-") as tmp:
        body, weights = await read_model_form(
            request, folder=Path(tmp), max_weights_bytes=settings.max_chunk_bytes
        )
        model = await run_in_threadpool(
            service.create_model,
            session=session,
            store=store,
            tasks=tasks,
            body=body,
            weights=weights,
            resources=ResourceLimits.of(settings),
        )
    return model_public(model)


@router.get("", response_model=ModelList, responses=problem_responses(422))
def list_models(
    session: SessionDep,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=200, description="Only this name.")] = None,
    status: Annotated[ModelStatusName | None, Query(description="Only this status.")] = None,
    updater: Annotated[
        str | None, Query(max_length=100, description="Only this default updater.")
    ] = None,
) -> ModelList:
    """Models, oldest first; ``?name=`` finds one by its (unique) name."""
    found = service.list_models(
        session=session, page=page, name=name, status=status, updater=updater
    )
    return ModelList(items=[model_public(m) for m in found.items], next_cursor=found.next_cursor)


@router.delete(
    "/{model_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses={
        202: {"description": "Deleted; its objects are removed in the background."},
        **problem_responses(404),
    },
)
def delete_model(model_id: str, session: SessionDep) -> Response:
    """Gone from every endpoint at once (404); its queued jobs are cancelled, a running one
    stops within seconds, and its objects are removed in the background."""
    deletion.delete_model(session=session, model_id=model_id)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.patch("/{model_id}", response_model=ModelPublic, responses=problem_responses(404, 422))
def update_model(model_id: str, body: ModelUpdate, session: SessionDep) -> ModelPublic:
    """Set or remove the promotion gate and the retention (``null`` removes; a field left
    out stays). The gate applies from the next job, the retention from the next sweep."""
    return model_public(model_update.update_model(session=session, model_id=model_id, body=body))


@router.get("/{model_id}", response_model=ModelPublic, responses=problem_responses(404))
def get_model(model_id: str, session: SessionDep) -> ModelPublic:
    return model_public(service.get_model(session=session, model_id=model_id))
