"""Rollback through HTTP: a job in the model's queue, run by the real job runner, that
publishes version latest+1 with an earlier version's objects byte for byte; the accuracy
matrix then follows the new version's lineage; the gate decides on it as on any job.

Runs on the embedded defaults and on PostgreSQL + S3 (moto) + Redis."""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import Job, Model, ModelVersion
from tests.api.harness import Api
from tests.api.jobs_helpers import submit
from tests.api.published import publish_version
from tests.api.running import objects_of, run_worker


def rollback(api: Api, model_id: str, version: object) -> dict:
    response = api.client.post(f"/v1/models/{model_id}/rollback", json={"version": version})
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/jobs/{response.json()['id']}"
    return response.json()


def test_a_rollback_runs_in_queue_order_and_republishes_a_version_byte_for_byte(
    api: Api,
) -> None:
    # given: version 1 from chunk A; then chunk B, a rollback to 1 and chunk C queued
    model_id = api.create_model()["id"]
    first = submit(api, model_id, seed=1)
    run_worker(api, model_id)
    second = submit(api, model_id, seed=2)
    messages = api.broker_messages()

    # when
    job = rollback(api, model_id, 1)
    third = submit(api, model_id, seed=3)
    run_worker(api, model_id)

    # then: the job was queued behind B, before C, and a worker was nudged
    assert (job["kind"], job["source_version"], job["status"]) == ("rollback", 1, "queued")
    assert api.broker_messages() > messages
    jobs = api.client.get(f"/v1/models/{model_id}/jobs").json()["items"]
    assert [(j["id"], j["seq"]) for j in jobs] == [
        (first, 1),
        (second, 2),
        (job["id"], 3),
        (third, 4),
    ]
    chunks = api.client.get(f"/v1/models/{model_id}/chunks").json()["items"]
    assert [c["seq"] for c in chunks] == [1, 2, 3]  # no gap for the rollback's place
    assert api.client.get(f"/v1/models/{model_id}").json()["chunk_count"] == 3
    done = api.client.get(f"/v1/jobs/{job['id']}").json()
    assert (done["status"], done["base_version"], done["result_version"]) == ("succeeded", 2, 3)
    assert done["metrics"]["rollback"] == {"source_version": 1}

    # and: version 3 holds version 1's objects, bit for bit, with parent 1
    versions = {
        v["number"]: v for v in api.client.get(f"/v1/models/{model_id}/versions").json()["items"]
    }
    assert (versions[3]["parent"], versions[3]["chunk_id"], versions[3]["job_id"]) == (
        1,
        None,
        job["id"],
    )
    assert objects_of(api, model_id, 3) == objects_of(api, model_id, 1)
    assert {"model.safetensors", "state.safetensors", "state.json"} <= set(
        objects_of(api, model_id, 3)
    )
    artifact = api.client.get(f"/v1/models/{model_id}/versions/3/artifact")
    assert artifact.content == api.client.get(f"/v1/models/{model_id}/versions/1/artifact").content
    assert versions[3]["artifact_sha256"] == versions[1]["artifact_sha256"]

    # and: C trained from version 3; the matrix follows the lineage 1 → 3 → 4 (B left it)
    assert (versions[4]["parent"], api.client.get(f"/v1/jobs/{third}").json()["base_version"]) == (
        3,
        3,
    )
    a, c = chunks[0]["id"], chunks[2]["id"]
    metrics = api.client.get(f"/v1/models/{model_id}/metrics").json()
    assert metrics["chunk_ids"] == [a, c]
    assert [len(row) for row in metrics["accuracy_matrix"]] == [1, 2]
    assert versions[4]["metrics"]["chunk_ids"] == [a, c]
    assert versions[2]["metrics"]["chunk_ids"] == [a, chunks[1]["id"]]  # B's version stays


def test_the_gate_moves_its_alias_to_a_rollback_that_passes_and_not_to_one_that_fails(
    api: Api,
) -> None:
    # given: a gated model; version 1 learnt chunk 0 to 0.9, version 2 dropped it to 0.3
    # (refused), so production serves version 1
    policy = {"alias": "production", "max_accuracy_drop": 0.2}
    model_id = api.create_model(promotion=policy)["id"]
    publish_version(api, model_id, submit(api, model_id, seed=1), [0.9])
    publish_version(api, model_id, submit(api, model_id, seed=2), [0.3, 0.9])
    api.client.put(f"/v1/models/{model_id}/aliases/production", json={"version": 1})

    # when: a rollback to version 1, then one to version 2
    good = rollback(api, model_id, 1)
    bad = rollback(api, model_id, 2)
    run_worker(api, model_id)

    # then: the first is promoted (the matrix at version 1 forgets nothing), the second is
    # refused with its reason, and production serves version 3
    promoted = api.client.get(f"/v1/jobs/{good['id']}").json()["metrics"]["promotion"]
    refused = api.client.get(f"/v1/jobs/{bad['id']}").json()["metrics"]["promotion"]
    assert promoted["promoted"] is True
    assert refused["promoted"] is False
    assert any("max_accuracy_drop 0.6000 fails" in r for r in refused["reasons"])
    assert api.client.get(f"/v1/models/{model_id}/versions/production").json()["number"] == 3
    # and: the model's metrics are those at version 2 again (the lineage of version 4)
    metrics = api.client.get(f"/v1/models/{model_id}/metrics").json()
    assert metrics["accuracy_matrix"] == [[0.9], [0.3, 0.9]]


def test_a_rollback_with_no_gate_moves_no_alias(api: Api) -> None:
    # given
    model_id = api.create_model()["id"]
    publish_version(api, model_id, submit(api, model_id), [0.5])
    api.client.put(f"/v1/models/{model_id}/aliases/production", json={"version": 1})
    # when
    job = rollback(api, model_id, 0)
    run_worker(api, model_id)
    # then: version 2 is version 0 again; production stays; the matrix is empty again
    assert api.client.get(f"/v1/jobs/{job['id']}").json()["result_version"] == 2
    assert api.client.get(f"/v1/models/{model_id}/versions/production").json()["number"] == 1
    assert api.client.get(f"/v1/models/{model_id}/metrics").json()["chunk_ids"] == []
    assert objects_of(api, model_id, 2) == objects_of(api, model_id, 0)


def test_a_cancelled_rollback_publishes_nothing_and_the_next_job_runs(api: Api) -> None:
    # given
    model_id = api.create_model()["id"]
    job = rollback(api, model_id, 0)
    chunk_job = submit(api, model_id)
    # when
    cancelled = api.client.post(f"/v1/jobs/{job['id']}/cancel")
    run_worker(api, model_id)
    # then
    assert cancelled.json()["status"] == "cancelled"
    assert api.client.get(f"/v1/jobs/{chunk_job}").json()["result_version"] == 1
    assert api.count(ModelVersion, model_id=model_id) == 2


def test_bad_rollbacks_are_refused_naming_the_field_and_change_nothing(api: Api) -> None:
    # given: a ready model at version 0, and one still initialising
    model_id = api.create_model()["id"]
    waiting = api.create_model(ready=False)["id"]
    path = f"/v1/models/{model_id}/rollback"
    messages = api.broker_messages()

    # when
    beyond = api.client.post(path, json={"version": 5})
    negative = api.client.post(path, json={"version": -1})
    wrong_type = api.client.post(path, json={"version": "one"})
    extra = api.client.post(path, json={"version": 0, "force": True})
    missing = api.client.post(path, json={})
    early = api.client.post(f"/v1/models/{waiting}/rollback", json={"version": 0})
    nobody = api.client.post(f"/v1/models/{'0' * 32}/rollback", json={"version": 0})

    # then
    assert beyond.status_code == 404 and beyond.json()["errors"][0]["field"] == "version"
    for response in (negative, wrong_type, missing):
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "version"
    assert extra.status_code == 422
    assert early.status_code == 409 and "initialising" in early.json()["detail"]
    assert nobody.status_code == 404
    with api.sessions() as session:
        kinds = session.scalars(select(Job.kind).where(Job.model_id == model_id)).all()
        assert list(kinds) == ["initialise"]
        model = session.get_one(Model, model_id)
        assert model.job_count == 0  # the refused request took no queue place
    assert api.broker_messages() == messages


def test_a_retry_takes_a_queue_place_not_a_chunk_number_and_applies_a_chunk_once(
    api: Api,
) -> None:
    # given: a chunk job that failed (as the worker fails one on a passing fault)
    model_id = api.create_model()["id"]
    failed = submit(api, model_id)
    with api.sessions.begin() as session:
        job = session.get_one(Job, failed)
        job.status, job.error = "failed", "gave up after 3 attempts"

    # when: it is retried and the retry succeeds, then it is retried again
    retried = api.client.post(f"/v1/jobs/{failed}/retry")
    later = submit(api, model_id, seed=5)
    run_worker(api, model_id)
    again = api.client.post(f"/v1/jobs/{failed}/retry")

    # then: the retry took queue place 2, the next chunk is chunk 2 (place 3)
    assert retried.status_code == 202 and retried.json()["seq"] == 2
    chunks = api.client.get(f"/v1/models/{model_id}/chunks").json()["items"]
    assert [c["seq"] for c in chunks] == [1, 2]
    assert api.client.get(f"/v1/jobs/{later}").json()["seq"] == 3
    # and: a chunk applied since is not applied twice
    assert again.status_code == 409 and "applied since" in again.json()["detail"]
    assert api.count(Job, model_id=model_id) == 4  # initialise, failed, retry, later
