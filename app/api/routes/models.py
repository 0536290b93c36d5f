"""``/v1/models``: register a model (version 0 = seeded initial weights), list, read."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import SessionDep, StoreDep, TasksDep
from app.db.models import Model
from app.schemas.models import ModelCreate, ModelList, ModelPublic
from app.schemas.problem import problem_responses
from app.services import models as service

router = APIRouter(prefix="/v1/models", tags=["models"])


def model_public(model: Model) -> ModelPublic:
    return ModelPublic.model_validate(model, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelPublic,
    responses=problem_responses(413, 422, 503),
)
def create_model(
    body: ModelCreate, session: SessionDep, store: StoreDep, tasks: TasksDep
) -> ModelPublic:
    return model_public(service.create_model(session=session, store=store, tasks=tasks, body=body))


@router.get("", response_model=ModelList)
def list_models(session: SessionDep) -> ModelList:
    return ModelList(items=[model_public(m) for m in service.list_models(session=session)])


@router.get("/{model_id}", response_model=ModelPublic, responses=problem_responses(404))
def get_model(model_id: str, session: SessionDep) -> ModelPublic:
    return model_public(service.get_model(session=session, model_id=model_id))
