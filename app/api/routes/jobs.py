"""``/v1/jobs/{id}`` and ``/v1/models/{id}/jobs``: job status, progress, cancellation."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import SessionDep
from app.db.models import Job
from app.schemas.jobs import JobList, JobPublic
from app.schemas.problem import problem_responses
from app.services import jobs as service

router = APIRouter(tags=["jobs"])


def job_public(job: Job) -> JobPublic:
    return JobPublic.model_validate(job, from_attributes=True)


@router.get("/v1/jobs/{job_id}", response_model=JobPublic, responses=problem_responses(404))
def get_job(job_id: str, session: SessionDep) -> JobPublic:
    return job_public(service.get_job(session=session, job_id=job_id))


@router.post(
    "/v1/jobs/{job_id}/cancel", response_model=JobPublic, responses=problem_responses(404, 409)
)
def cancel_job(job_id: str, session: SessionDep) -> JobPublic:
    """Cancel a queued job. A running or finished job answers 409."""
    return job_public(service.cancel_job(session=session, job_id=job_id))


@router.get("/v1/models/{model_id}/jobs", response_model=JobList, responses=problem_responses(404))
def list_jobs(model_id: str, session: SessionDep) -> JobList:
    """The model's jobs in chunk submission order."""
    jobs = service.list_jobs(session=session, model_id=model_id)
    return JobList(items=[job_public(j) for j in jobs])
