"""``DELETE /v1/models/{id}``: gone at once, jobs cancelled, objects swept in the
background (and a sweep cut short is finished by the next)."""

from __future__ import annotations

import pytest

from app.db.models import Alias, Chunk, Job, Model, ModelVersion
from tests.api.harness import Api
from tests.api.jobs_helpers import submit
from tests.api.published import publish_version
from tests.api.test_registry import ready_model
from worker.job_store import JobStore
from worker.reconcile import sweep_deleted


def test_a_deleted_model_is_gone_from_every_endpoint_at_once(api: Api) -> None:
    # given: a model with a published version, an alias and a queued job
    model_id = ready_model(api, "doomed", versions=1)
    api.client.put(f"/v1/models/{model_id}/aliases/production", json={"version": 1})
    queued = submit(api, model_id, seed=5)

    # when
    response = api.client.delete(f"/v1/models/{model_id}")

    # then: 202, and 404 everywhere, before any sweep
    assert response.status_code == 202
    base = f"/v1/models/{model_id}"
    for path in (
        base,
        f"{base}/versions",
        f"{base}/versions/1",
        f"{base}/versions/production/artifact",
        f"{base}/aliases",
        f"{base}/jobs",
        f"{base}/metrics",
        f"/v1/jobs/{queued}",
    ):
        assert api.client.get(path).status_code == 404, path
    assert api.client.delete(base).status_code == 404
    assert api.client.get("/v1/models", params={"name": "doomed"}).json()["items"] == []
    with api.sessions() as session:
        job = session.get(Job, queued)
        assert job is not None and job.status == "cancelled"
    # and: the name is free again
    assert api.create_model(name="doomed")["id"] != model_id


@pytest.mark.parametrize("crash_after_objects", [False, True])
def test_the_sweeper_removes_objects_then_rows(api: Api, crash_after_objects: bool) -> None:
    # given: a deleted model with objects, and a model that stays
    model_id = ready_model(api, "swept", versions=1)
    kept = ready_model(api, "kept", versions=1)
    api.client.put(f"/v1/models/{model_id}/aliases/production", json={"version": 1})
    assert api.objects(f"models/{model_id}")
    api.client.delete(f"/v1/models/{model_id}")
    jobs = JobStore(api.sessions)
    if crash_after_objects:  # a sweep that removed the objects, then died
        api.store.delete_prefix(f"models/{model_id}")

    # when
    removed = sweep_deleted(jobs, api.store)

    # then: nothing of it is left, the other model is untouched, and a second sweep is idle
    assert removed == 1
    assert api.objects(f"models/{model_id}") == []
    for row in (Model, Chunk, Job, ModelVersion, Alias):
        where = {"id": model_id} if row is Model else {"model_id": model_id}
        assert api.count(row, **where) == 0, row
    assert api.objects(f"models/{kept}")
    assert api.client.get(f"/v1/models/{kept}/versions/1").status_code == 200
    assert sweep_deleted(jobs, api.store) == 0


def test_a_model_leased_by_a_worker_is_swept_only_once_the_lease_is_free(api: Api) -> None:
    # given: a deleted model whose worker still holds the lease (stopping its job)
    model_id = ready_model(api, "busy")
    publish_version(api, model_id, submit(api, model_id), [0.5])
    jobs = JobStore(api.sessions)
    assert jobs.take_lease(model_id=model_id, owner="w1", seconds=60)
    api.client.delete(f"/v1/models/{model_id}")

    # when / then: no sweep while leased; swept once released
    assert sweep_deleted(jobs, api.store) == 0
    assert api.objects(f"models/{model_id}")
    jobs.release_lease(model_id=model_id, owner="w1")
    assert sweep_deleted(jobs, api.store) == 1
    assert api.objects(f"models/{model_id}") == []
