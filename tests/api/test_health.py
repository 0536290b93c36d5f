"""``GET /healthz``: 200 while the API and its database answer, reporting the live workers
(heartbeats) and the oldest queued job's wait; 503 problem+json when the database is gone."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.db.models import Worker, utcnow
from app.services.workers import ALIVE_WITHIN
from tests.api.harness import Api, embedded_settings
from tests.api.job_rows import set_job
from tests.api.jobs_helpers import submit
from tests.services import free_port


def add_worker(api: Api, seen_ago: timedelta) -> None:
    with api.sessions.begin() as session:
        session.add(
            Worker(
                id=uuid.uuid4().hex,
                hostname="host",
                architectures=[],
                last_seen=utcnow() - seen_ago,
            )
        )


def test_with_no_worker_it_stays_ok_and_says_none_is_alive(api: Api) -> None:
    # given: a job waiting, and no worker ever started
    model = api.create_model()
    job_id = submit(api, model["id"])
    set_job(api.sessions, job_id, created_at=utcnow() - timedelta(seconds=90))

    # when
    response = api.client.get("/healthz")

    # then
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["storage"] == "ok" and health["broker"] == "ok"
    assert health["workers"] == {"alive": 0, "last_seen_seconds_ago": None}
    assert health["queue"]["queued"] == 1
    assert 90 <= health["queue"]["oldest_wait_seconds"] < 90 + 60


def test_it_counts_the_workers_with_a_recent_heartbeat(api: Api) -> None:
    # given: two workers beating, one gone silent
    add_worker(api, timedelta(seconds=2))
    add_worker(api, timedelta(seconds=5))
    add_worker(api, ALIVE_WITHIN + timedelta(minutes=5))

    # when
    health = api.client.get("/healthz").json()

    # then
    assert health["workers"]["alive"] == 2
    assert 2 <= health["workers"]["last_seen_seconds_ago"] < 60
    assert health["queue"] == {"queued": 0, "oldest_wait_seconds": None}


def test_metrics_count_the_same_live_workers(api: Api) -> None:
    # given
    add_worker(api, timedelta(seconds=1))
    add_worker(api, ALIVE_WITHIN + timedelta(seconds=30))

    # when
    text_format = api.client.get("/metrics").text
    health = api.client.get("/healthz").json()

    # then
    alive = [
        s.value
        for family in text_string_to_metric_families(text_format)
        for s in family.samples
        if s.name == "relearn_workers_alive"
    ]
    assert alive == [1.0] and health["workers"]["alive"] == 1


def test_a_store_and_broker_nobody_answers_for_are_reported_not_a_failure(
    relearn_home: Path,
) -> None:
    # given: an API whose object store and broker are ports nobody listens on
    closed = f"127.0.0.1:{free_port()}"
    settings = embedded_settings(
        relearn_home,
        storage_url="s3://nowhere",
        s3_endpoint_url=f"http://{closed}",
        s3_key="key",
        s3_secret="secret",
        broker_url=f"redis://{closed}/0",
    )
    upgrade_to_head(settings.database_url)
    with TestClient(create_app(settings)) as client:
        # when
        response = client.get("/healthz")

    # then: still 200 (the API and its database work), saying what does not
    assert response.status_code == 200
    health = response.json()
    assert (health["status"], health["storage"], health["broker"]) == (
        "degraded",
        "unavailable",
        "unavailable",
    )
    assert health["database"] == "ok"


def test_a_database_gone_is_a_503_problem(postgres_server: str, relearn_home: Path) -> None:
    # given: an API on a database of its own, which is then dropped under it
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    name = f"relearn_health_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    upgrade_to_head(url)
    settings = Settings(home=relearn_home, database_url=url, storage_url=None, broker_url=None)
    try:
        with TestClient(create_app(settings)) as client:
            assert client.get("/healthz").status_code == 200
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))

            # when
            response = client.get("/healthz")

            # then
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
