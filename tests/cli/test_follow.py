"""``relearn status --follow`` and ``relearn push --follow`` read the job's event stream
(``GET /v1/jobs/{id}/events``) while a stand-in worker moves the job along in the
database."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.api.main import create_app
from app.cli.follow import latest_loss
from app.db.migrate import upgrade_to_head
from app.db.models import Job, utcnow
from tests.api.job_rows import set_job
from tests.cli.runner import Relearn, describe, embedded_settings, mlp_args
from tests.serving import served


@dataclass
class Served:
    relearn: Relearn
    sessions: sessionmaker[Session]

    def requests(self, route: str) -> float:
        """GET requests the API has answered on ``route`` (a template), from /metrics."""
        text = httpx.get(f"{self.relearn.url}/metrics").text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "relearn_http_requests_total"
            and s.labels["route"] == route
            and s.labels["method"] == "GET"
        )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = embedded_settings(tmp_path_factory.mktemp("relearn-home"))
    upgrade_to_head(settings.database_url)
    app = create_app(settings)
    with served(app) as url:
        yield Served(Relearn(url), app.state.sessions)


def chunk_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 4)).astype(np.float32), rng.integers(0, 3, 12)
    np.savez(tmp_path / "chunk.npz", x=x, y=y)
    return tmp_path / "chunk.npz"


class StandInWorker:
    """Runs the model's jobs in submission order as a worker would (running, halfway,
    succeeded), in a thread, until stopped."""

    def __init__(self, sessions: sessionmaker[Session], model_id: str) -> None:
        self.sessions, self.model_id = sessions, model_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> StandInWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(10)

    def run(self) -> None:
        while not self.stopped.wait(0.3):
            with self.sessions() as session:
                job_id = session.scalar(
                    select(Job.id)
                    .where(Job.model_id == self.model_id, Job.status == "queued")
                    .order_by(Job.created_at)
                )
            if job_id is None:
                continue
            set_job(self.sessions, job_id, status="running", started_at=utcnow(), progress=0.5)
            self.stopped.wait(0.3)
            set_job(self.sessions, job_id, status="succeeded", progress=1.0, finished_at=utcnow())


def test_status_follow_reads_the_event_stream_to_the_end(api: Served, tmp_path: Path) -> None:
    # given: a pushed chunk's job, and a worker that takes it soon
    model = json.loads(api.relearn.ok(*mlp_args("followed")).stdout)
    pushed = api.relearn.ok("push", str(chunk_file(tmp_path)), "--model", model["id"], "--json")
    job_id = json.loads(pushed.stdout)["job_id"]
    streams, polls = api.requests("/v1/jobs/{job_id}/events"), api.requests("/v1/jobs/{job_id}")

    # when
    with StandInWorker(api.sessions, model["id"]):
        result = api.relearn(
            "status", job_id, "--follow", "--interval", "0.05", "--max-wait", "30", "--json"
        )

    # then: exit 0 with the final job, from one event stream and no polling
    assert result.exit_code == 0, describe(result)
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert api.requests("/v1/jobs/{job_id}/events") == streams + 1
    assert api.requests("/v1/jobs/{job_id}") == polls


def test_push_follow_shows_the_job_to_its_end(api: Served, tmp_path: Path) -> None:
    # given
    model = json.loads(api.relearn.ok(*mlp_args("pushed")).stdout)

    # when
    with StandInWorker(api.sessions, model["id"]):
        result = api.relearn(
            "push", str(chunk_file(tmp_path)), "--model", model["id"], "--follow",
            "--interval", "0.05", "--max-wait", "30", "--json",
        )  # fmt: skip

    # then
    assert result.exit_code == 0, describe(result)
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert "following job" in result.stderr


def test_an_unknown_job_is_reported_not_followed(api: Served) -> None:
    # when
    result = api.relearn("status", "0123456789abcdef0123456789abcdef", "--follow")

    # then
    assert result.exit_code == 1, describe(result)
    assert "404" in result.stderr and "no job" in result.stderr


def test_the_bar_shows_the_latest_loss_once_the_job_has_one() -> None:
    assert latest_loss({"loss_curve": None}) == ""
    assert latest_loss({"loss_curve": []}) == ""
    curve = [{"progress": 0.25, "loss": 1.5}, {"progress": 0.5, "loss": 0.4123}]
    assert latest_loss({"loss_curve": curve}) == "loss 0.4123"
