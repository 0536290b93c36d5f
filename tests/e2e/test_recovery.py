"""A worker killed in the middle of a job loses nothing: the job runs again from the same
base version on another worker, and exactly one version per chunk is published."""

from __future__ import annotations

import time

import pytest
import torch

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.reference import uninterrupted_run, weights_from_artifact
from tests.e2e.service import Service

pytestmark = [pytest.mark.e2e, pytest.mark.services]


@pytest.fixture
def fast_reconcile(scaled_env: dict[str, str]) -> None:
    scaled_env["RELEARN_RECONCILE_SECONDS"] = "1"
    scaled_env["RELEARN_LEASE_SECONDS"] = "3"


def test_killed_worker_job_reruns_from_same_base(
    fast_reconcile: None, scaled_service: Service
) -> None:
    # given: a model with one finished version and a second, slow job under way
    # (long enough that a worker reporting progress every 0.5 s is seen part-way)
    body = model_body("crash", {"name": "er", "params": {"memory_size": 50}}, epochs=100)
    chunks = class_incremental_chunks(2, n=2400)
    with scaled_service.client() as client:
        model_id = client.post("/v1/models", json=body).json()["id"]
        jobs = [
            client.post(
                f"/v1/models/{model_id}/chunks", files={"file": (f"{i}.npz", c.npz())}
            ).json()["job_id"]
            for i, c in enumerate(chunks)
        ]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{jobs[1]}").json()
            if job["status"] == "running" and job["progress"] > 0.1:
                break
            time.sleep(0.05)
        assert job["status"] == "running", job

        # when: every worker is killed outright, then a fresh one starts
        for proc in list(scaled_service.processes.started):
            if proc.name.startswith("worker"):
                proc.kill()
        scaled_service.processes.start_worker("worker-3")
        finished = scaled_service.wait_job(jobs[1], timeout=240)

        # then: the job succeeded as version 2, built on version 1, and nothing else exists
        assert finished["status"] == "succeeded", finished
        assert finished["result_version"] == 2
        versions = client.get(f"/v1/models/{model_id}/versions").json()
        versions = versions["items"] if isinstance(versions, dict) else versions
        assert [v["number"] for v in versions] == [0, 1, 2]
        served = weights_from_artifact(
            client.get(f"/v1/models/{model_id}/versions/latest/artifact").content
        )
    for name, tensor in uninterrupted_run(body, chunks).items():
        assert torch.equal(served[name], tensor), name
