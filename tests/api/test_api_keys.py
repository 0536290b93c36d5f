"""API keys and tenants: with a key made, every /v1 request needs a valid Bearer key (401
problem otherwise), and a model of another tenant is 404 on every endpoint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.main import create_app
from app.db.migrate import upgrade_to_head
from app.db.models import ApiKey, Model
from app.services.keys import create_key, revoke_key
from tests.api.harness import Api, embedded_settings
from tests.api.payloads import chunk_arrays, model_body, npz_bytes


def make_key(api: Api, tenant: str) -> str:
    with api.sessions() as session:
        return create_key(session=session, tenant=tenant).secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_without_keys_the_api_is_open_and_models_belong_to_the_default_tenant(api: Api) -> None:
    model = api.create_model()
    assert api.client.get(f"/v1/models/{model['id']}").status_code == 200
    with api.sessions() as session:
        assert session.get(Model, model["id"]).tenant == "default"  # type: ignore[union-attr]


def test_once_a_key_exists_every_v1_request_needs_a_valid_one(api: Api) -> None:
    # given
    key = make_key(api, "acme")

    # when / then: none, a malformed header, an unknown key → 401 problem
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("rlk_not-a-key")):
        response = api.client.get("/v1/models", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["status"] == 401
    assert api.client.post("/v1/models", json=model_body()).status_code == 401
    assert api.client.get("/v1/architectures").status_code == 401
    # and: the key works, health stays open
    assert api.client.get("/v1/models", headers=bearer(key)).status_code == 200
    assert api.client.get("/healthz").status_code in (200, 503)


def test_only_the_hash_of_a_key_is_stored(api: Api) -> None:
    key = make_key(api, "acme")
    with api.sessions() as session:
        rows = list(session.scalars(select(ApiKey)))
    assert len(rows) == 1
    assert rows[0].key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(value) for value in vars(rows[0]).values())
    assert len(key) > 40  # 32 random bytes, url-safe


def test_a_revoked_key_is_refused_and_revoking_the_last_key_keeps_the_api_closed(
    api: Api,
) -> None:
    key = make_key(api, "acme")
    with api.sessions() as session:
        row = session.scalar(select(ApiKey))
        assert row is not None
        revoke_key(session=session, key_id=row.prefix)
    assert api.client.get("/v1/models", headers=bearer(key)).status_code == 401
    assert api.client.get("/v1/models").status_code == 401


def test_a_model_of_another_tenant_is_404_everywhere(api: Api) -> None:
    # given: acme's model, with a chunk (so it has jobs and chunks) and version 0's row
    acme, other = make_key(api, "acme"), make_key(api, "globex")
    created = api.client.post("/v1/models", json=model_body(), headers=bearer(acme))
    assert created.status_code == 201, created.text
    model_id = created.json()["id"]
    chunk = npz_bytes(chunk_arrays())
    accepted = api.client.post(
        f"/v1/models/{model_id}/chunks",
        files={"file": ("c.npz", chunk, "application/octet-stream")},
        headers=bearer(acme),
    )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    paths = [
        f"/v1/models/{model_id}",
        f"/v1/models/{model_id}/chunks",
        f"/v1/models/{model_id}/jobs",
        f"/v1/models/{model_id}/versions",
        f"/v1/models/{model_id}/versions/0",
        f"/v1/models/{model_id}/versions/0/artifact",
        f"/v1/models/{model_id}/metrics",
        f"/v1/jobs/{job_id}",
        f"/v1/jobs/{job_id}/events?timeout=1",  # bounded: the job never runs here
    ]

    # then: the owner sees them (artifact/versions may not exist yet: not 401/5xx)
    for path in paths:
        assert api.client.get(path, headers=bearer(acme)).status_code < 500, path
    assert api.client.get(f"/v1/models/{model_id}", headers=bearer(acme)).status_code == 200
    # and: another tenant gets 404 on each, and sees no model in the list
    for path in paths:
        assert api.client.get(path, headers=bearer(other)).status_code == 404, path
    foreign_upload = api.client.post(
        f"/v1/models/{model_id}/chunks",
        files={"file": ("c.npz", chunk, "application/octet-stream")},
        headers=bearer(other),
    )
    assert foreign_upload.status_code == 404
    cancel = api.client.post(f"/v1/jobs/{job_id}/cancel", headers=bearer(other))
    assert cancel.status_code == 404
    listed = api.client.get("/v1/models", headers=bearer(other)).json()["items"]
    assert listed == []
    own = api.client.get("/v1/models", headers=bearer(acme)).json()["items"]
    assert [m["id"] for m in own] == [model_id]
    with api.sessions() as session:
        assert session.get(Model, model_id).tenant == "acme"  # type: ignore[union-attr]


@pytest.fixture
def app_with(relearn_home: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = embedded_settings(relearn_home, **overrides)
        upgrade_to_head(settings.database_url)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_auth_required_refuses_requests_even_before_any_key_exists(app_with: Any) -> None:
    client = app_with(auth="required")
    assert client.get("/v1/models").status_code == 401


def test_auth_off_serves_without_keys_even_when_keys_exist(app_with: Any) -> None:
    client = app_with(auth="off")
    with client.app.state.sessions() as session:
        create_key(session=session, tenant="acme")
    assert client.get("/v1/models").status_code == 200
