"""``/v1/jobs/{id}`` and ``/v1/models/{id}/jobs``: job status, progress, cancellation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.api.deps import SessionDep, TasksDep
from app.api.paging import PageDep
from app.db.models import Job
from app.schemas.jobs import JobList, JobPublic, JobStatusName
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
    """Cancel a queued or running job (a running one stops within seconds and publishes
    nothing; the model's next job then runs). A finished job answers 409."""
    return job_public(service.cancel_job(session=session, job_id=job_id))


@router.post(
    "/v1/jobs/{job_id}/retry",
    response_model=JobPublic,
    status_code=202,
    responses=problem_responses(404, 409),
)
def retry_job(job_id: str, session: SessionDep, tasks: TasksDep) -> JobPublic:
    """Queue a failed job's chunk again, as a new job at the end of the model's queue."""
    return job_public(service.retry_job(session=session, tasks=tasks, job_id=job_id))


@router.get(
    "/v1/models/{model_id}/jobs", response_model=JobList, responses=problem_responses(404, 422)
)
def list_jobs(
    model_id: str,
    session: SessionDep,
    page: PageDep,
    status: Annotated[JobStatusName | None, Query(description="Only this status.")] = None,
    updater: Annotated[
        str | None, Query(max_length=100, description="Only jobs of this updater.")
    ] = None,
    order: Annotated[
        Literal["queue", "newest"],
        Query(description="`queue`: oldest first, in queue order; `newest`: latest first."),
    ] = "queue",
) -> JobList:
    """The model's jobs in queue order, or newest first (`order=newest&limit=1`: the last
    job)."""
    found = service.list_jobs(
        session=session,
        model_id=model_id,
        page=page,
        status=status,
        updater=updater,
        newest_first=order == "newest",
    )
    return JobList(items=[job_public(j) for j in found.items], next_cursor=found.next_cursor)
