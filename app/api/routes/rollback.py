"""``POST /v1/models/{id}/rollback``: queue a job that republishes an earlier version."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import SessionDep, TasksDep
from app.api.routes.jobs import job_public
from app.schemas.jobs import JobPublic
from app.schemas.problem import problem_responses
from app.schemas.rollback import RollbackRequest
from app.services import rollback as service

router = APIRouter(prefix="/v1/models/{model_id}", tags=["versions"])


@router.post(
    "/rollback",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses=problem_responses(404, 409, 410, 422),
)
def rollback(
    model_id: str, body: RollbackRequest, session: SessionDep, tasks: TasksDep, response: Response
) -> JobPublic:
    """202 + a queued job. In queue order (after the jobs queued before it) it publishes
    version latest+1 holding ``version``'s weights and updater state, byte for byte, with
    ``parent`` = ``version``. The promotion gate decides on it as on any job; the accuracy
    matrix then stands as it did at ``version``."""
    job = service.request_rollback(
        session=session, tasks=tasks, model_id=model_id, version=body.version
    )
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job_public(job)
