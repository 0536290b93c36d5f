"""The registry: unique names and ``?name=``, aliases and ``versions/{alias}``, pages."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from app.services.aliases import point_alias
from tests.api.harness import Api
from tests.api.initialised import make_version_zero
from tests.api.jobs_helpers import submit
from tests.api.payloads import chunk_arrays, model_body, npz_bytes
from tests.api.published import publish_version


def ready_model(api: Api, name: str, versions: int = 0) -> str:
    """A model called ``name`` with version 0 and ``versions`` published updates."""
    model_id: str = api.create_model(ready=False, name=name)["id"]
    make_version_zero(api, model_id)
    for i in range(versions):
        publish_version(api, model_id, submit(api, model_id, seed=i), [0.5] * (i + 1))
    return model_id


def test_a_second_model_with_the_same_name_is_409_naming_the_first(api: Api) -> None:
    # given
    first = api.create_model(ready=False, name="digits")["id"]
    # when
    again = api.client.post("/v1/models", json=model_body(name="digits"))
    # then
    assert again.status_code == 409
    assert first in again.json()["detail"]
    assert again.json()["errors"][0]["field"] == "name"
    assert api.client.get("/v1/models", params={"name": "digits"}).json()["items"][0]["id"] == (
        first
    )


def test_name_lookup_finds_one_model_or_none(api: Api) -> None:
    # given
    wanted = api.create_model(ready=False, name="wanted")["id"]
    api.create_model(ready=False, name="other")
    # when
    found = api.client.get("/v1/models", params={"name": "wanted"}).json()
    missing = api.client.get("/v1/models", params={"name": "nobody"}).json()
    # then
    assert [m["id"] for m in found["items"]] == [wanted]
    assert missing == {"items": [], "next_cursor": None}


def test_models_page_with_limit_and_cursor_and_filter_by_status(api: Api) -> None:
    # given: three models, one of them ready
    ids = [api.create_model(ready=False, name=f"m{i}")["id"] for i in range(3)]
    make_version_zero(api, ids[1])
    # when
    first = api.client.get("/v1/models", params={"limit": 2}).json()
    second = api.client.get(
        "/v1/models", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    ready = api.client.get("/v1/models", params={"status": "ready"}).json()
    bad = api.client.get("/v1/models", params={"cursor": "nonsense"})
    # then
    assert [m["id"] for m in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None
    assert [m["id"] for m in ready["items"]] == [ids[1]]
    assert bad.status_code == 422


def test_versions_page(api: Api) -> None:
    # given
    model_id = ready_model(api, "paged", versions=2)
    # when
    first = api.client.get(f"/v1/models/{model_id}/versions", params={"limit": 2}).json()
    rest = api.client.get(
        f"/v1/models/{model_id}/versions", params={"cursor": first["next_cursor"]}
    ).json()
    # then
    assert [v["number"] for v in first["items"]] == [0, 1]
    assert [v["number"] for v in rest["items"]] == [2]
    assert rest["next_cursor"] is None


def test_an_alias_is_set_moved_listed_resolved_and_deleted(api: Api) -> None:
    # given
    model_id = ready_model(api, "served", versions=2)
    aliases = f"/v1/models/{model_id}/aliases"
    # when: set to 1
    put = api.client.put(f"{aliases}/production", json={"version": 1})
    # then
    assert put.status_code == 200
    assert put.json()["alias"] == "production" and put.json()["version"] == 1
    resolved = api.client.get(f"/v1/models/{model_id}/versions/production").json()
    assert resolved["number"] == 1 and resolved["aliases"] == ["production"]
    artifact = api.client.get(f"/v1/models/{model_id}/versions/production/artifact")
    by_number = api.client.get(f"/v1/models/{model_id}/versions/1/artifact")
    assert artifact.status_code == 200 and artifact.content == by_number.content
    assert artifact.headers["cache-control"] == "no-cache"
    # when: moved to 2
    api.client.put(f"{aliases}/production", json={"version": 2})
    # then
    assert api.client.get(f"/v1/models/{model_id}/versions/production").json()["number"] == 2
    listed = api.client.get(aliases).json()["items"]
    assert [(a["alias"], a["version"]) for a in listed] == [("production", 2)]
    versions = api.client.get(f"/v1/models/{model_id}/versions").json()["items"]
    assert [v["aliases"] for v in versions] == [[], [], ["production"]]
    # when: deleted
    assert api.client.delete(f"{aliases}/production").status_code == 204
    # then
    assert api.client.get(f"/v1/models/{model_id}/versions/production").status_code == 404
    assert api.client.delete(f"{aliases}/production").status_code == 404


def test_bad_aliases_are_refused(api: Api) -> None:
    # given
    model_id = ready_model(api, "strict")
    aliases = f"/v1/models/{model_id}/aliases"
    # when / then: latest is reserved, a version must exist, a name must read as a name
    assert api.client.put(f"{aliases}/latest", json={"version": 0}).status_code == 422
    assert api.client.put(f"{aliases}/prod", json={"version": 7}).status_code == 404
    assert api.client.put(f"{aliases}/-x", json={"version": 0}).status_code == 422
    assert api.client.put(f"{aliases}/prod", json={"version": -1}).status_code == 422
    assert api.client.get(f"/v1/models/{model_id}/versions/nowhere").status_code == 404


def test_an_alias_moved_while_a_job_publishes_ends_at_one_of_the_two(api: Api) -> None:
    # given: the worker's publish transaction holds an alias upsert, not yet committed
    model_id = ready_model(api, "raced", versions=2)
    api.client.put(f"/v1/models/{model_id}/aliases/production", json={"version": 0})
    worker: Session = api.sessions()
    worker.begin()
    point_alias(worker, model_id=model_id, name="production", version=2)
    answers: list[int] = []

    def user_moves_it() -> None:
        response = api.client.put(f"/v1/models/{model_id}/aliases/production", json={"version": 1})
        answers.append(response.status_code)

    # when: a user moves the same alias meanwhile, then the publish commits
    user = threading.Thread(target=user_moves_it)
    user.start()
    user.join(timeout=0.5)
    worker.commit()
    worker.close()
    user.join(timeout=30)
    # then: both writes succeed, in commit order; the alias holds one valid version
    assert answers == [200]
    now = api.client.get(f"/v1/models/{model_id}/versions/production").json()["number"]
    assert now in (1, 2)
    items = api.client.get(f"/v1/models/{model_id}/aliases").json()["items"]
    assert len(items) == 1 and items[0]["version"] == now


def test_a_promotion_policy_is_stored_and_shown_and_checked(api: Api) -> None:
    # given
    policy = {"alias": "production", "max_forgetting": 0.05, "max_accuracy_drop": 0.1}
    # when
    created = api.create_model(
        ready=False, name="gated", promotion=policy, retention={"keep_chunks": 3}
    )
    reserved = api.client.post("/v1/models", json=model_body(promotion={"alias": "latest"}))
    out_of_range = api.client.post(
        "/v1/models", json=model_body(promotion={"alias": "p", "max_forgetting": 2})
    )
    # then
    shown = api.client.get(f"/v1/models/{created['id']}").json()
    assert shown["promotion"] == {**policy, "min_average_accuracy": None}
    assert shown["retention"] == {"keep_chunks": 3, "keep_versions": None}
    assert reserved.status_code == 422 and "reserved" in reserved.text
    assert out_of_range.status_code == 422
    assert out_of_range.json()["errors"][0]["field"] == "promotion.max_forgetting"


def test_jobs_and_chunks_page_and_jobs_filter_by_status_and_updater(api: Api) -> None:
    # given: an initialise job done, then three queued chunks, the last with its own updater
    model_id = ready_model(api, "busy-list")
    queued = [submit(api, model_id, seed=i) for i in range(2)]
    base = f"/v1/models/{model_id}"
    der = api.client.post(
        f"{base}/chunks",
        files={"file": ("c.npz", npz_bytes(chunk_arrays(seed=9)))},
        data={"updater": '{"name": "der"}'},
    ).json()["job_id"]
    # when
    first = api.client.get(f"{base}/jobs", params={"limit": 2}).json()
    rest = api.client.get(f"{base}/jobs", params={"cursor": first["next_cursor"]}).json()
    waiting = api.client.get(f"{base}/jobs", params={"status": "queued"}).json()
    by_der = api.client.get(f"{base}/jobs", params={"updater": "der"}).json()
    chunks = api.client.get(f"{base}/chunks", params={"limit": 2}).json()
    chunks_rest = api.client.get(f"{base}/chunks", params={"cursor": chunks["next_cursor"]})
    # then
    # (the initialise job is the model's, not a chunk's: job lists show chunk jobs only)
    assert [j["id"] for j in first["items"]] == queued and [j["id"] for j in rest["items"]] == [der]
    assert [j["id"] for j in waiting["items"]] == [*queued, der]
    assert [j["id"] for j in by_der["items"]] == [der]
    assert len(chunks["items"]) == 2 and len(chunks_rest.json()["items"]) == 1
    assert api.client.get(f"{base}/jobs", params={"status": "nope"}).status_code == 422
    assert api.client.get(f"{base}/jobs", params={"cursor": "x"}).status_code == 422
    assert api.client.get(f"{base}/jobs", params={"limit": 0}).status_code == 422
