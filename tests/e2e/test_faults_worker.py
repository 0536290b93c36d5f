"""Fault: the worker holding a model's update lease is SIGKILLed in the middle of a fit,
five times over seven chunks, and a fresh worker is started after each kill. Nothing
accepted is lost or applied twice: each interrupted job runs again from the same base."""

from __future__ import annotations

import os

import pytest

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.faults import (
    FAST_RECOVERY,
    Answers,
    assert_no_lost_work,
    lease_holder,
    settings_of,
    upload,
    wait_running,
)
from tests.e2e.processes import Proc
from tests.e2e.service import Service

pytestmark = [pytest.mark.e2e, pytest.mark.services]

CHUNKS = 7
ROUNDS = 5


@pytest.fixture
def scaled_env(scaled_env: dict[str, str]) -> dict[str, str]:
    return scaled_env | FAST_RECOVERY


def holder_process(service: Service, pid: int) -> Proc:
    """The worker whose process group holds ``pid`` (``relearn worker`` and its child)."""
    group = os.getpgid(pid)
    return next(p for p in service.processes.started if p.popen.pid == group)


def test_workers_killed_mid_update_lose_nothing(
    scaled_env: dict[str, str], scaled_service: Service
) -> None:
    # given: a model and seven accepted chunks, each a fit of a few seconds
    answers = Answers()
    settings = settings_of(scaled_env)
    body = model_body("killed", {"name": "er", "params": {"memory_size": 50}}, epochs=100)
    chunks = class_incremental_chunks(CHUNKS, n=1000)
    with answers.client(scaled_service) as client:
        model_id = client.post("/v1/models", json=body).json()["id"]
        accepted = [upload(client, model_id, chunk) for chunk in chunks]

        # when: five times, the worker holding the lease is killed while a job is mid-fit
        # (a kill that lands just after the fit ended interrupts nothing: the next job's
        # fit is the next round)
        interrupted: list[str] = []
        for kill, chunk in enumerate(accepted[1:]):
            if len(interrupted) == ROUNDS:
                break
            wait_running(client, chunk["job_id"], progress=0.2)
            pid = lease_holder(settings, model_id)
            assert pid is not None, "a running job without a lease"
            holder_process(scaled_service, pid).kill()
            if client.get(f"/v1/jobs/{chunk['job_id']}").json()["status"] == "running":
                interrupted.append(chunk["job_id"])
            scaled_service.processes.start_worker(f"worker-{3 + kill}")

        # then: every accepted chunk applied once, in order, complete, and no 5xx
        assert_no_lost_work(
            answers, client, scaled_service, settings,
            model_id=model_id, body=body, accepted=accepted, chunks=chunks,
        )  # fmt: skip
        # and five kills interrupted a fit, which then ran again
        assert len(interrupted) == ROUNDS
        for job_id in interrupted:
            assert client.get(f"/v1/jobs/{job_id}").json()["attempts"] >= 2
