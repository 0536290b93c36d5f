"""Versions and artifact downloads: ETag, 304, pt2 availability, 404/422s."""

from __future__ import annotations

import hashlib

import pytest

from app.db.models import ModelVersion
from app.storage import MODEL_FILE
from tests.api.harness import Api
from tests.api.jobs_helpers import submit
from tests.api.published import publish_version

CONTRACT_KEYS = {
    "model_id", "number", "job_id", "chunk_id", "created_at", "artifact_sha256", "metrics",
    "updater",
}  # fmt: skip


def test_versions_are_listed_and_latest_follows_publication(api: Api) -> None:
    # given: a model with version 0, then a published version 1
    model = api.create_model()
    job_id = submit(api, model["id"])
    publish_version(api, model["id"], job_id, accuracy=[0.5])

    # when
    listed = api.client.get(f"/v1/models/{model['id']}/versions").json()["items"]
    latest = api.client.get(f"/v1/models/{model['id']}/versions/latest").json()
    first = api.client.get(f"/v1/models/{model['id']}/versions/0").json()

    # then
    assert [v["number"] for v in listed] == [0, 1]
    assert set(latest) >= CONTRACT_KEYS
    assert latest["number"] == 1 and latest["job_id"] == job_id
    assert latest["metrics"]["accuracy"] == [0.5]
    assert latest["updater"] == model["updater"]
    assert first["job_id"] is None and first["chunk_id"] is None and first["updater"] is None


def test_the_artifact_etag_is_its_sha256_and_if_none_match_gives_304(api: Api) -> None:
    # given
    model = api.create_model()
    url = f"/v1/models/{model['id']}/versions/0/artifact"

    # when
    response = api.client.get(url)

    # then
    assert response.status_code == 200
    sha = hashlib.sha256(response.content).hexdigest()
    assert response.headers["etag"] == f'"{sha}"'
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{model["id"]}-v0.safetensors"'
    )
    assert "immutable" in response.headers["cache-control"]
    for header in (f'"{sha}"', f'W/"{sha}"', f'"other", "{sha}"', "*"):
        cached = api.client.get(url, headers={"If-None-Match": header})
        assert cached.status_code == 304, header
        assert cached.content == b""
        assert cached.headers["etag"] == f'"{sha}"'
    assert api.client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_latest_is_revalidated_not_cached_forever(api: Api) -> None:
    # given
    model = api.create_model()

    # when
    response = api.client.get(f"/v1/models/{model['id']}/versions/latest/artifact")

    # then
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["etag"]


def test_pt2_is_409_until_exported_then_served(api: Api) -> None:
    # given: a version whose program is not recorded (published before pt2 export moved
    # into the publish)
    model = api.create_model()
    with api.sessions.begin() as session:
        row = session.get(ModelVersion, (model["id"], 0))
        assert row is not None
        row.pt2_sha256 = None
    url = f"/v1/models/{model['id']}/versions/0/artifact?format=pt2"

    # when / then: 409 saying to retry
    pending = api.client.get(url)
    assert pending.status_code == 409
    assert "retry" in pending.json()["detail"]
    assert pending.headers["retry-after"]

    # when: a worker has exported it (object + sha on the row)
    program = b"exported program bytes"
    with api.sessions.begin() as session:
        version = session.get(ModelVersion, (model["id"], 0))
        assert version is not None
        api.store.put_bytes(program, f"{version.prefix}/model.pt2")
        version.pt2_sha256 = hashlib.sha256(program).hexdigest()
    served = api.client.get(url)

    # then
    assert served.status_code == 200
    assert served.content == program
    assert served.headers["etag"] == f'"{hashlib.sha256(program).hexdigest()}"'
    assert served.headers["content-disposition"].endswith('-v0.pt2"')


def test_a_published_versions_artifacts_are_served(api: Api) -> None:
    # given
    model = api.create_model()
    publish_version(api, model["id"], submit(api, model["id"]), [0.9], b"w1", b"p1")

    # when
    weights = api.client.get(f"/v1/models/{model['id']}/versions/latest/artifact")
    program = api.client.get(f"/v1/models/{model['id']}/versions/1/artifact?format=pt2")

    # then
    assert (weights.content, program.content) == (b"w1", b"p1")


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/versions/7", 404, "version"),
        ("/versions/99999999999", 404, "version"),
        ("/versions/abc", 404, "version"),  # could be an alias; there is none
        ("/versions/a%20b", 422, "version"),
        ("/versions/-1", 422, "version"),
        ("/versions/7/artifact", 404, "version"),
        ("/versions/0/artifact?format=onnx", 422, "format"),
    ],
)
def test_bad_version_references(api: Api, path: str, status: int, field: str) -> None:
    # given
    model = api.create_model()

    # when
    response = api.client.get(f"/v1/models/{model['id']}{path}")

    # then
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def test_versions_of_an_unknown_model_are_404(api: Api) -> None:
    # when
    responses = [
        api.client.get("/v1/models/" + "c" * 32 + "/versions"),
        api.client.get("/v1/models/" + "c" * 32 + "/versions/latest"),
        api.client.get("/v1/models/" + "c" * 32 + "/versions/0/artifact"),
    ]

    # then
    assert [r.status_code for r in responses] == [404, 404, 404]


def test_a_missing_object_is_a_503_not_a_crash(api: Api) -> None:
    # given: version 0's object lost from storage (an operator deleted it)
    model = api.create_model()
    with api.sessions() as session:
        version = session.get(ModelVersion, (model["id"], 0))
        assert version is not None
        api.store.delete(f"{version.prefix}/{MODEL_FILE}")

    # when
    response = api.client.get(f"/v1/models/{model['id']}/versions/0/artifact")

    # then
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
