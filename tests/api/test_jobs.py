"""Job status, listing and cancellation."""

from __future__ import annotations

import pytest

from app.db.models import Job, JobStatus
from tests.api.harness import Api
from tests.api.jobs_helpers import submit

CONTRACT_KEYS = {
    "id", "model_id", "chunk_id", "status", "progress", "updater", "metrics", "error",
    "result_version", "created_at", "started_at", "finished_at",
}  # fmt: skip


def test_a_job_has_the_contract_shape(api: Api) -> None:
    # given
    model = api.create_model()
    job_id = submit(api, model["id"])

    # when
    job = api.client.get(f"/v1/jobs/{job_id}").json()

    # then
    assert set(job) >= CONTRACT_KEYS
    assert job["id"] == job_id and job["model_id"] == model["id"]
    assert (job["status"], job["progress"], job["result_version"]) == ("queued", 0.0, None)
    assert job["started_at"] is None and job["finished_at"] is None and job["error"] is None


def test_jobs_of_a_model_are_listed_in_submission_order(api: Api) -> None:
    # given
    model, other = api.create_model(), api.create_model()
    job_ids = [submit(api, model["id"], seed) for seed in range(3)]
    submit(api, other["id"])

    # when
    listed = api.client.get(f"/v1/models/{model['id']}/jobs").json()["items"]

    # then
    assert [j["id"] for j in listed] == job_ids


def test_newest_first_lists_the_last_job_first_and_pages_backwards(api: Api) -> None:
    # given: five jobs on a model, one on another
    model, other = api.create_model(), api.create_model()
    job_ids = [submit(api, model["id"], seed) for seed in range(5)]
    submit(api, other["id"])
    base = f"/v1/models/{model['id']}/jobs?order=newest"

    # when: the last job alone, then every job two at a time
    last = api.client.get(f"{base}&limit=1").json()
    pages, cursor = [], None
    while True:
        page = api.client.get(base + "&limit=2" + (f"&cursor={cursor}" if cursor else "")).json()
        pages.append([j["id"] for j in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    # then
    assert [j["id"] for j in last["items"]] == [job_ids[-1]]
    assert pages == [job_ids[4:2:-1], job_ids[2:0:-1], job_ids[:1]]
    assert api.client.get(f"/v1/models/{model['id']}/jobs?order=oldest").status_code == 422


def test_a_queued_job_can_be_cancelled_once(api: Api) -> None:
    # given
    model = api.create_model()
    job_id = submit(api, model["id"])

    # when
    cancelled = api.client.post(f"/v1/jobs/{job_id}/cancel")
    again = api.client.post(f"/v1/jobs/{job_id}/cancel")

    # then
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]
    assert api.client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"


def test_a_running_job_is_cancelled_for_its_worker_to_stop(api: Api) -> None:
    # given: a job a worker has taken
    model = api.create_model()
    job_id = submit(api, model["id"])
    with api.sessions.begin() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = JobStatus.running

    # when
    response = api.client.post(f"/v1/jobs/{job_id}/cancel")

    # then: cancelled at once (the worker notices at its next progress report)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert api.client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"


@pytest.mark.parametrize("status", [JobStatus.succeeded, JobStatus.failed])
def test_a_finished_job_cannot_be_cancelled(api: Api, status: JobStatus) -> None:
    # given: a job a worker has finished
    model = api.create_model()
    job_id = submit(api, model["id"])
    with api.sessions.begin() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = status

    # when
    response = api.client.post(f"/v1/jobs/{job_id}/cancel")

    # then: 409 and the job is untouched
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert api.client.get(f"/v1/jobs/{job_id}").json()["status"] == status


def test_unknown_jobs_are_404_problems(api: Api) -> None:
    # when
    responses = [
        api.client.get("/v1/jobs/" + "a" * 32),
        api.client.post("/v1/jobs/" + "a" * 32 + "/cancel"),
        api.client.get("/v1/jobs/not-an-id"),
        api.client.get("/v1/models/" + "b" * 32 + "/jobs"),
    ]

    # then
    for response in responses:
        assert response.status_code == 404
        assert response.json()["status"] == 404
