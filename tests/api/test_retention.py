"""Retention through HTTP: what the sweep removed is gone from the API (a pruned version is
410 with a problem naming it, and leaves the lists), the metrics stay whole, and the
model shows its storage use. Embedded defaults and PostgreSQL + S3 (moto) + Redis."""

from __future__ import annotations

from tests.api.harness import Api
from tests.api.jobs_helpers import submit
from tests.api.running import run_retention, run_worker


def stored_bytes(api: Api, model_id: str) -> int:
    """The bytes really stored for the model, less the eval splits (not counted)."""
    keys = [k for k in api.objects(f"models/{model_id}") if "/eval/" not in k]
    return sum(api.store.size(k) for k in keys)


def test_pruned_versions_are_gone_and_the_model_shows_its_storage(api: Api) -> None:
    # given: a model keeping one version and one chunk, with three chunks applied and
    # production at version 1
    model = api.create_model(retention={"keep_versions": 1, "keep_chunks": 1})
    model_id = model["id"]
    path = f"/v1/models/{model_id}"
    before = api.client.get(path).json()["storage_bytes"]
    for seed in (1, 2, 3):
        submit(api, model_id, seed=seed)
    uploaded = api.client.get(path).json()["storage_bytes"]
    run_worker(api, model_id)
    api.client.put(f"{path}/aliases/production", json={"version": 1})
    metrics_before = api.client.get(f"{path}/metrics").json()
    full = api.client.get(path).json()["storage_bytes"]

    # when
    run_retention(api, model_id)

    # then: versions 0 and 2 are gone (3 is the newest, 1 has an alias)
    listed = [v["number"] for v in api.client.get(f"{path}/versions").json()["items"]]
    assert listed == [1, 3]
    for ref in ("0", "2"):
        for url in (f"{path}/versions/{ref}", f"{path}/versions/{ref}/artifact"):
            gone = api.client.get(url)
            assert gone.status_code == 410, gone.text
            assert gone.headers["content-type"].startswith("application/problem+json")
            assert gone.json()["errors"][0]["field"] == "version"
            assert "retention" in gone.json()["detail"]
    assert api.client.put(f"{path}/aliases/staging", json={"version": 2}).status_code == 410
    assert api.client.post(f"{path}/rollback", json={"version": 0}).status_code == 410
    assert api.client.get(f"{path}/versions/production").json()["number"] == 1
    # and: the metrics are what they were; two raw chunks went, every eval split stayed
    assert api.client.get(f"{path}/metrics").json() == metrics_before
    chunks = api.client.get(f"{path}/chunks").json()["items"]
    assert [api.store.exists(f"models/{model_id}/chunks/{c['id']}.npz") for c in chunks] == [
        False,
        False,
        True,
    ]
    assert all(api.store.exists(f"models/{model_id}/eval/{c['id']}.safetensors") for c in chunks)
    # and: the model's storage grew with the uploads and the versions, and shrank with the
    # sweep, always equal to what is stored
    now = api.client.get(path).json()["storage_bytes"]
    assert before < uploaded < full and now < full
    assert now == stored_bytes(api, model_id)


def test_without_retention_nothing_is_removed(api: Api) -> None:
    # given
    model_id = api.create_model()["id"]
    submit(api, model_id)
    run_worker(api, model_id)
    objects = api.objects(f"models/{model_id}")
    # when
    run_retention(api, model_id)
    # then
    assert api.objects(f"models/{model_id}") == objects
    assert len(api.client.get(f"/v1/models/{model_id}/versions").json()["items"]) == 2


def test_patch_sets_and_removes_the_retention_and_the_gate(api: Api) -> None:
    # given: a model without either, keeping everything
    model_id = api.create_model()["id"]
    path = f"/v1/models/{model_id}"
    submit(api, model_id, seed=1)
    submit(api, model_id, seed=2)
    run_worker(api, model_id)

    # when: retention is set on it afterwards, and the sweep runs
    set_both = api.client.patch(
        path, json={"retention": {"keep_versions": 1}, "promotion": {"alias": "production"}}
    )
    run_retention(api, model_id)
    keep_gate = api.client.patch(path, json={"retention": None})
    bad = api.client.patch(path, json={"retention": {"keep_versions": 0}})
    unknown = api.client.patch(path, json={"architecture": {"name": "cnn"}})

    # then
    assert set_both.status_code == 200, set_both.text
    assert set_both.json()["retention"] == {"keep_versions": 1, "keep_chunks": None}
    assert [v["number"] for v in api.client.get(f"{path}/versions").json()["items"]] == [2]
    assert keep_gate.json()["retention"] is None
    assert keep_gate.json()["promotion"]["alias"] == "production"  # left out: it stays
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "retention.keep_versions"
    assert unknown.status_code == 422
    assert api.client.patch(f"/v1/models/{'0' * 32}", json={}).status_code == 404
