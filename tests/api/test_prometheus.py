"""``GET /metrics``: Prometheus text, job figures from the database, HTTP requests by
route template, and the HTTP counters of several API processes pooled."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from app.db.migrate import upgrade_to_head
from app.db.models import utcnow
from app.telemetry.database import DatabaseCollector
from tests.api.harness import Api, embedded_settings
from tests.api.job_rows import ran
from tests.api.jobs_helpers import submit

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(api: Api) -> Samples:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_jobs_are_counted_by_status(api: Api) -> None:
    # given: a model (whose version 0 may be a job of its own)
    model = api.create_model(ready=False)
    before = scrape(api)

    # when: three jobs, one of them cancelled
    job_ids = [submit(api, model["id"], seed) for seed in range(3)]
    api.client.post(f"/v1/jobs/{job_ids[0]}/cancel")
    after = scrape(api)

    # then
    def delta(status: str) -> float:
        name = "relearn_jobs"
        return sample(after, name, status=status) - sample(before, name, status=status)

    assert sample(after, "relearn_database_up") == 1
    assert (delta("queued"), delta("cancelled"), delta("running")) == (2, 1, 0)
    assert {
        status for (name, labels) in after if name == "relearn_jobs" for _, status in labels
    } == {"queued", "running", "succeeded", "failed", "cancelled"}
    assert sample(after, "relearn_oldest_queued_job_age_seconds") > 0


def test_durations_come_from_the_job_rows(api: Api) -> None:
    # given: a job that waited 2 s and ran 10 s with 7 s of training; one that waited 0.5 s
    # and failed after 40 s; one still queued
    model = api.create_model(ready=False)
    done, failed, _ = (submit(api, model["id"], seed) for seed in range(3))
    t0 = utcnow()

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    ran(api.sessions, done, created=at(0), started=at(2), finished=at(12), fit_s=7.0)
    ran(api.sessions, failed, created=at(0), started=at(0.5), finished=at(40.5), fit_s=0,
        status="failed")  # fmt: skip

    # when
    samples = scrape(api)

    # then
    run = "relearn_job_duration_seconds"
    assert sample(samples, f"{run}_count", status="succeeded") == 1
    assert sample(samples, f"{run}_sum", status="succeeded") == pytest.approx(10, abs=0.01)
    assert sample(samples, f"{run}_bucket", status="succeeded", le="5.0") == 0
    assert sample(samples, f"{run}_bucket", status="succeeded", le="15.0") == 1
    assert sample(samples, f"{run}_bucket", status="failed", le="30.0") == 0
    assert sample(samples, f"{run}_bucket", status="failed", le="+Inf") == 1
    assert sample(samples, "relearn_job_fit_duration_seconds_count") == 1
    assert sample(samples, "relearn_job_fit_duration_seconds_sum") == 7.0
    wait = "relearn_job_queue_wait_seconds"
    assert sample(samples, f"{wait}_count") == 2  # the one still queued has not waited out
    assert sample(samples, f"{wait}_bucket", le="1.0") == 1
    assert sample(samples, f"{wait}_sum") == pytest.approx(2.5, abs=0.01)


def test_http_requests_are_counted_by_route_template_and_status(api: Api) -> None:
    # given
    before = scrape(api)
    missing = "/v1/jobs/0123456789abcdef0123456789abcdef"

    # when
    for _ in range(2):
        api.client.get(missing)
    api.client.get("/no/such/path/123")
    after = scrape(api)

    # then
    def delta(**labels: str) -> float:
        name = "relearn_http_requests_total"
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta(method="GET", route="/v1/jobs/{job_id}", status="404") == 2
    assert delta(method="GET", route="unmatched", status="404") == 1
    assert delta(method="GET", route="/metrics", status="200") == 1  # the scrape before


def test_an_unreachable_database_is_a_figure_not_a_failed_scrape() -> None:
    # given: a collector on a database nobody listens for
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    collector = DatabaseCollector(sessionmaker(bind=engine))

    # when
    metrics = list(collector.collect())

    # then
    assert [(m.name, [s.value for s in m.samples]) for m in metrics] == [
        ("relearn_database_up", [0.0])
    ]


PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from fastapi.testclient import TestClient
    from app.api.main import create_app
    from tests.api.harness import embedded_settings

    requests, scrape = int(sys.argv[2]), sys.argv[3] == "scrape"
    with TestClient(create_app(embedded_settings(Path(sys.argv[1])))) as client:
        for _ in range(requests):
            assert client.get("/healthz").status_code == 200
        if scrape:
            print(client.get("/metrics").text)
    """
)


def test_several_api_processes_report_their_requests_together(tmp_path: Path) -> None:
    # given: one database, and a multiprocess folder shared by the API processes
    home, shared = tmp_path / "home", tmp_path / "prometheus"
    shared.mkdir()
    upgrade_to_head(embedded_settings(home).database_url)
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(shared)}

    def api_process(requests: int, scrape: bool) -> str:
        argv = [sys.executable, "-c", PROCESS, str(home), str(requests), str(scrape and "scrape")]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # when: one process answers 3 requests and exits, another answers 2 and is scraped
    api_process(3, scrape=False)
    samples = parse(api_process(2, scrape=True))

    # then
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert sample(samples, "relearn_http_requests_total", **healthz) == 5
    assert ("relearn_jobs", frozenset({("status", "queued")})) in samples  # and the database's
    assert sample(samples, "relearn_database_up") == 1
