"""Version 0 as a worker makes it, for API tests: the real job runner runs the model's
initialise job against the app's own database and store (no Celery worker runs here)."""

from __future__ import annotations

import torch
from sqlalchemy import select

from app.db.models import Job, JobKind
from tests.api.harness import Api
from worker.job_runner import JobRunner
from worker.program_export import export_next_program

OWNER = "api-test-worker"


def make_version_zero(api: Api, model_id: str) -> None:
    """Run the model's initialise job (only that one: queued chunks stay queued), then
    export its ``.pt2`` program, as a worker does after publishing."""
    runner = JobRunner(
        sessions=api.sessions, store=api.store, device=torch.device("cpu"), owner=OWNER
    )
    with api.sessions() as session:
        job_id = session.scalar(
            select(Job.id).where(Job.model_id == model_id, Job.kind == JobKind.initialise)
        )
    assert job_id is not None
    assert runner.jobs.take_lease(model_id=model_id, owner=OWNER, seconds=60)
    try:
        runner.run_job(job_id)
        export_next_program(
            runner.jobs, api.store, model_id=model_id, owner=OWNER, lease_seconds=60
        )
    finally:
        runner.jobs.release_lease(model_id=model_id, owner=OWNER)
