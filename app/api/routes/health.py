"""``GET /healthz``: the API is up and its database answers; the store, the broker, live
workers and the queue's wait.

It stays 200 with no worker alive (the API is fine; ``workers.alive`` says 0) and with the
store or broker down (``degraded``), and is a 503 problem when the database does not
answer. No API key needed: it shows counts only.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.schemas.health import HealthPublic
from app.schemas.problem import problem_responses
from app.services.health import health_report

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic, responses=problem_responses(503))
def healthz(request: Request) -> HealthPublic:
    with request.app.state.sessions() as session:
        return health_report(
            session=session, store=request.app.state.store, celery=request.app.state.tasks.celery
        )
