"""``GET /healthz``: the API is up and its database answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from app.schemas.problem import problem_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", responses=problem_responses(503))
def healthz(request: Request) -> dict[str, str]:
    # A database failure raises OperationalError, which the problem handlers answer 503.
    with request.app.state.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}
