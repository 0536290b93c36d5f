"""``relearn keys`` on the embedded database, ``serve``'s refusal to publish an open API,
and the client sending ``RELEARN_API_KEY`` as a Bearer token."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.cli.http import ApiClient
from app.cli.keys import is_loopback
from app.config import get_settings
from app.db.models import ApiKey
from app.db.session import make_engine
from tests.cli.runner import describe


@pytest.fixture
def settings_env(relearn_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key in list(os.environ):
        if key.startswith("RELEARN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RELEARN_HOME", str(relearn_home))
    get_settings.cache_clear()
    yield relearn_home
    get_settings.cache_clear()


def stored_keys() -> list[ApiKey]:
    engine = make_engine(get_settings().database_url)
    try:
        from sqlalchemy.orm import Session

        with Session(engine) as session:
            return list(session.scalars(select(ApiKey)))
    finally:
        engine.dispose()


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(settings_env: Path) -> None:
    runner = CliRunner()

    # when
    created = runner.invoke(app, ["keys", "create", "--tenant", "acme"])

    # then: stdout is the key alone; the database holds its sha256
    assert created.exit_code == 0, describe(created)
    key = created.stdout.strip()
    assert key.startswith("rlk_") and "\n" not in key
    (row,) = stored_keys()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert row.tenant == "acme"
    # and: list shows the prefix and tenant, never the key
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, describe(listed)
    assert row.prefix in listed.stdout and "acme" in listed.stdout and key not in listed.stdout
    # and: revoke marks it revoked
    revoked = runner.invoke(app, ["keys", "revoke", row.id])
    assert revoked.exit_code == 0, describe(revoked)
    assert stored_keys()[0].revoked_at is not None
    assert runner.invoke(app, ["keys", "revoke", "nope"]).exit_code == 1


def test_keys_create_refuses_a_bad_tenant_name(settings_env: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--tenant", "a b/c"])
    assert result.exit_code == 1
    assert stored_keys() == []


def test_serve_refuses_a_public_host_without_keys(settings_env: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--workers", "0"])
    assert result.exit_code == 1, describe(result)
    assert "RELEARN_AUTH=off" in result.stderr and "keys create" in result.stderr


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.5")


def test_the_client_sends_relearn_api_key_as_a_bearer_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={})

    monkeypatch.setenv("RELEARN_API_KEY", "rlk_secret")
    client = ApiClient("http://relearn.test")
    client._http._transport = httpx.MockTransport(answer)
    client.get_json("/v1/models")
    monkeypatch.delenv("RELEARN_API_KEY")
    bare = ApiClient("http://relearn.test")
    bare._http._transport = httpx.MockTransport(answer)
    bare.get_json("/v1/models")
    assert seen == ["Bearer rlk_secret", None]


def test_keys_create_if_none_makes_only_the_first_key(settings_env: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["keys", "create", "--if-none", "--tenant", "default"])
    again = runner.invoke(app, ["keys", "create", "--if-none", "--tenant", "default"])
    assert first.exit_code == 0 and again.exit_code == 0, describe(again)
    assert first.stdout.strip().startswith("rlk_") and again.stdout.strip() == ""
    assert len(stored_keys()) == 1


def test_compose_closes_the_api_and_makes_a_key() -> None:
    import yaml

    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["api"]["environment"]["RELEARN_AUTH"] == "required"
    assert services["create-key"]["command"][:4] == ["relearn", "keys", "create", "--if-none"]
    assert "create-key" in services["api"]["depends_on"]
