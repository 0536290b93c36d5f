"""The real job runner on the app's own database and store, for API tests that need what a
worker does next (no Celery worker runs in the API tests)."""

from __future__ import annotations

import torch

from app.db.models import ModelVersion
from tests.api.harness import Api
from worker.job_runner import JobRunner
from worker.retention import prune_model


def run_worker(api: Api, model_id: str) -> None:
    """A worker runs the model's queued jobs, in order (as the Celery task would)."""
    runner = JobRunner(
        sessions=api.sessions, store=api.store, device=torch.device("cpu"), owner="api-test"
    )
    assert runner.process_model(model_id)


def run_retention(api: Api, model_id: str) -> None:
    """One round of the reconciler's retention sweep on the model."""
    assert prune_model(
        api.sessions, api.store, model_id=model_id, owner="retention-test", lease_seconds=60
    )


def objects_of(api: Api, model_id: str, number: int) -> dict[str, bytes]:
    """The version's objects by file name."""
    with api.sessions() as session:
        prefix = session.get_one(ModelVersion, (model_id, number)).prefix
    return {key[len(prefix) + 1 :]: api.store.get_bytes(key) for key in api.store.list(prefix)}
