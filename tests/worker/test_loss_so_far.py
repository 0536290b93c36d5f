"""The loss so far: a running job's loss curve, written with each progress report, shown by
``GET /v1/jobs/{id}`` and carried by its events; bounded however long the job trains."""

from __future__ import annotations

import itertools
import math
import threading
import time
from pathlib import Path
from typing import Any

import torch
from fastapi.testclient import TestClient
from httpx_sse import connect_sse
from sqlalchemy.orm import Session, sessionmaker

from app.api.main import create_app
from app.config import Settings
from app.db.models import Job
from app.services.jobs import cancel_job
from app.storage import ObjectStore
from tests.e2e.data import class_incremental_chunks, model_body
from tests.worker.factories import add_chunk, create_model
from worker.job_runner import JobRunner
from worker.loss_curve import LossCurve

SLOW = model_body("slow", {"name": "naive"}, epochs=1000)
SHORT = model_body("short", {"name": "naive"}, epochs=3)


def runner(sessions: sessionmaker[Session], store: ObjectStore) -> JobRunner:
    return JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner="w1")


def curve_of(sessions: sessionmaker[Session], job_id: str) -> list[dict[str, float]]:
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return list(job.loss_curve or [])


def wait_for_points(sessions: sessionmaker[Session], job_id: str, n: int) -> None:
    deadline = time.monotonic() + 120
    while len(curve_of(sessions, job_id)) < n:
        assert time.monotonic() < deadline, "the worker reported no loss"
        time.sleep(0.1)


def assert_a_curve(curve: list[Any]) -> None:
    """Points in order of progress, each a finite loss."""
    progress = [point["progress"] for point in curve]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert all(0 < p < 1 for p in progress)
    assert all(isinstance(p["loss"], float) and math.isfinite(p["loss"]) for p in curve)


def test_a_running_job_shows_its_loss_so_far_in_the_api_and_its_events(
    sessions: sessionmaker[Session], store: ObjectStore, database_url: str, tmp_path: Path
) -> None:
    # given: a worker training a long job, and the API on the same database
    model_id = create_model(sessions, store, SLOW)
    job_id = add_chunk(sessions, store, model_id, class_incremental_chunks(1, n=2000)[0])
    worker = threading.Thread(target=runner(sessions, store).process_model, args=(model_id,))
    worker.start()
    settings = Settings(
        home=tmp_path, database_url=database_url, storage_url=store.root, broker_url=None
    )
    try:
        wait_for_points(sessions, job_id, 3)
        with TestClient(create_app(settings)) as client:
            # when: a user looks at the job, then follows its events for a while
            shown = client.get(f"/v1/jobs/{job_id}").json()
            params = {"interval": "0.6", "timeout": "2"}
            with connect_sse(client, "GET", f"/v1/jobs/{job_id}/events", params=params) as es:
                events = [(e.event, e.json()) for e in es.iter_sse()]
    finally:
        with sessions() as session:
            cancel_job(session=session, job_id=job_id)
        worker.join(timeout=60)

    # then: the job shows the curve so far, and each event carries the curve at its time
    assert shown["status"] == "running"
    assert len(shown["loss_curve"]) >= 3
    assert_a_curve(shown["loss_curve"])
    assert len(events) >= 2 and {name for name, _ in events} == {"progress"}
    curves = [job["loss_curve"] for _, job in events]
    for curve in curves:
        assert_a_curve(curve)
    assert len(curves[-1]) > len(curves[0]) >= len(shown["loss_curve"])
    assert curves[-1][: len(shown["loss_curve"])] == shown["loss_curve"]


def test_the_last_point_is_the_last_epochs_mean_loss(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given
    model_id = create_model(sessions, store, SHORT)
    job_id = add_chunk(sessions, store, model_id, class_incremental_chunks(1)[0])

    # when: the job runs to its end
    assert runner(sessions, store).process_model(model_id)

    # then: its curve ends with the final report: the last epoch's mean training loss
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "succeeded" and job.metrics is not None
        curve, epoch_losses = job.loss_curve, job.metrics["train"]["loss_curve"]
    assert curve is not None
    assert_a_curve(curve)
    assert curve[-1] == {"progress": 0.99, "loss": epoch_losses[-1]}


def test_a_long_run_keeps_a_bounded_curve_that_covers_it_all() -> None:
    # given
    curve = LossCurve(max_points=50)
    steps = 5000

    # when: far more reports than points
    for step in range(1, steps + 1):
        curve.add(step / steps, 1.0 / step)
    curve.add(1.0, math.nan)

    # then: at most 50 points from the start to the end, spread evenly, none NaN
    progress = [p["progress"] for p in curve.points]
    assert 25 <= len(progress) <= 50
    assert progress[0] < 0.05 and progress[-1] == 1.0
    gaps = [b - a for a, b in itertools.pairwise(progress[:-1])]
    assert max(gaps) <= 2.5 * min(gaps)  # even, but for the latest reading's
    assert all(math.isfinite(p["loss"]) for p in curve.points)
