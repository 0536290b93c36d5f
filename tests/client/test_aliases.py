"""Aliases and rollback through the client (endpoints of the registry issue: these run
once the server has them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relearn import APIError, Client, NotFound
from tests.client.capabilities import Capabilities
from tests.client.data import chunks, spec

ALIAS_PATH = "/v1/models/{model_id}/aliases/{alias}"


def test_an_alias_is_set_read_resolved_and_deleted(
    client: Client, name: str, capabilities: Capabilities, tmp_path: Path
) -> None:
    capabilities.require(capabilities.has("put", ALIAS_PATH), "aliases")
    # given: versions 0..2
    model = client.create_model(spec_body=spec(name))
    for chunk in chunks(2):
        client.push_chunk(model, chunk, wait=True, timeout=180, check=True)

    # when: production points at version 1
    alias = client.set_alias(model, "production", 1)

    # then: it reads back, resolves in versions and artifacts, and is listed
    assert (alias.alias, alias.version) == ("production", 1)
    if capabilities.has("get", ALIAS_PATH):
        assert client.get_alias(model, "production").version == 1
    assert [a.alias for a in client.list_aliases(model)] == ["production"]
    assert client.get_version(model, "production").number == 1
    artifact = client.download_artifact(model, "production", path=tmp_path / "p.safetensors")
    assert artifact.version == 1

    # and: moved, then deleted
    assert client.set_alias(model, "production", client.get_version(model)).version == 2
    client.delete_alias(model, "production")
    assert client.list_aliases(model) == []
    with pytest.raises(NotFound):
        client.get_version(model, "production")


def test_latest_is_reserved(client: Client, name: str, capabilities: Capabilities) -> None:
    capabilities.require(capabilities.has("put", ALIAS_PATH), "aliases")
    model = client.create_model(spec_body=spec(name))
    with pytest.raises(APIError) as caught:
        client.set_alias(model, "latest", 0)
    assert 400 <= caught.value.status < 500


def test_rollback_publishes_an_old_version_again(
    client: Client, name: str, capabilities: Capabilities
) -> None:
    capabilities.require(capabilities.has("post", "/v1/models/{model_id}/rollback"), "rollback")
    model = client.create_model(spec_body=spec(name))
    client.push_chunk(model, chunks(1)[0], wait=True, timeout=180, check=True)
    job = client.rollback(model, 0)
    assert client.wait_job(job, timeout=180, check=True).result_version == 2
    rolled = client.get_version(model, 2)
    assert rolled.artifact_sha256 == client.get_version(model, 0).artifact_sha256
