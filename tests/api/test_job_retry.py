"""``POST /v1/jobs/{id}/retry``: a failed job's chunk queued again as a new job at the end
of the model's queue; anything else is 409."""

from __future__ import annotations

from sqlalchemy import update

from app.db.models import Job, JobStatus
from tests.api.harness import Api
from tests.api.payloads import chunk_arrays, npz_bytes


def post_chunk(api: Api, model_id: str, seed: int) -> str:
    response = api.client.post(
        f"/v1/models/{model_id}/chunks",
        files={"file": ("c.npz", npz_bytes(chunk_arrays(seed=seed)), "application/octet-stream")},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def test_a_failed_job_is_retried_at_the_end_of_the_queue(api: Api) -> None:
    # given: two chunks, the first failed (as a worker records it)
    model_id = api.create_model()["id"]
    first, second = post_chunk(api, model_id, 1), post_chunk(api, model_id, 2)
    with api.sessions.begin() as session:
        session.execute(
            update(Job).where(Job.id == first).values(status=JobStatus.failed, attempts=3)
        )
    before = api.broker_messages()

    # when
    response = api.client.post(f"/v1/jobs/{first}/retry")

    # then: a new queued job for the same chunk, after the second one, and a worker nudged
    assert response.status_code == 202, response.text
    retried = response.json()
    assert retried["id"] not in (first, second)
    assert (retried["status"], retried["attempts"]) == ("queued", 0)
    jobs = api.client.get(f"/v1/models/{model_id}/jobs").json()["items"]
    by_id = {j["id"]: j for j in jobs}
    assert by_id[retried["id"]]["chunk_id"] == by_id[first]["chunk_id"]
    assert [j["id"] for j in jobs][-1] == retried["id"]
    assert by_id[first]["status"] == "failed"  # the record stays
    assert api.broker_messages() == before + 1
    # and: a later chunk queues after the retried job
    third = post_chunk(api, model_id, 3)
    assert [j["id"] for j in api.client.get(f"/v1/models/{model_id}/jobs").json()["items"]][
        -2:
    ] == [retried["id"], third]


def test_only_a_failed_chunk_job_can_be_retried(api: Api) -> None:
    model_id = api.create_model()["id"]
    queued = post_chunk(api, model_id, 1)
    response = api.client.post(f"/v1/jobs/{queued}/retry")
    assert response.status_code == 409
    assert response.json()["field"] == "job_id"
    assert api.client.post(f"/v1/jobs/{'0' * 32}/retry").status_code == 404
