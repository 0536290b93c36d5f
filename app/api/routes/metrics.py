"""``GET /v1/models/{id}/metrics``: the accuracy matrix, ACC, BWT and forgetting."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import SessionDep
from app.schemas.metrics import ModelMetrics
from app.schemas.problem import problem_responses
from app.services import metrics as service

router = APIRouter(tags=["metrics"])


@router.get(
    "/v1/models/{model_id}/metrics",
    response_model=ModelMetrics,
    responses=problem_responses(404),
)
def get_metrics(model_id: str, session: SessionDep) -> ModelMetrics:
    return service.model_metrics(session=session, model_id=model_id)
