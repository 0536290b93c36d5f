"""The worker's row: announced at start with what it can build, ``last_seen`` refreshed by
each beat, long-gone workers forgotten; the API lists what a live worker announced."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Worker, utcnow
from app.services.architectures import list_architectures
from worker.heartbeat import Heartbeat, worker_id
from worker.job_store import JobStore


def row(sessions: sessionmaker[Session]) -> Worker:
    with sessions() as session:
        found = session.get(Worker, worker_id())
        assert found is not None
        return found


def test_a_beat_records_the_worker_and_the_next_refreshes_last_seen(
    sessions: sessionmaker[Session],
) -> None:
    # given
    heartbeat = Heartbeat(JobStore(sessions))

    # when
    heartbeat.beat()
    first = row(sessions)
    time.sleep(0.01)
    heartbeat.beat()
    second = row(sessions)

    # then: one row, started once, seen again, announcing every built-in with its schema
    assert second.started_at == first.started_at
    assert second.last_seen > first.last_seen
    announced = {a["name"]: a for a in second.architectures}
    assert {"mlp", "cnn", "resnet18"} <= set(announced)
    assert announced["cnn"]["source"] == "builtin"
    assert "input_shape" in announced["cnn"]["params_schema"]["properties"]
    assert len(worker_id()) <= 64


def test_the_thread_beats_until_stopped(sessions: sessionmaker[Session]) -> None:
    # given
    heartbeat = Heartbeat(JobStore(sessions), interval=0.05)

    # when
    heartbeat.start()
    time.sleep(0.1)
    seen = row(sessions).last_seen
    time.sleep(0.2)
    heartbeat.stop()

    # then
    assert row(sessions).last_seen > seen


def test_long_gone_workers_are_forgotten(sessions: sessionmaker[Session]) -> None:
    # given: a worker last seen ten days ago, and a live one
    with sessions.begin() as session:
        session.add(Worker(id="gone", hostname="h", last_seen=utcnow() - timedelta(days=10)))
        session.add(Worker(id="live", hostname="h"))

    # when
    forgotten = JobStore(sessions).forget_workers(unseen_for=timedelta(days=7))

    # then
    assert forgotten == 1
    with sessions() as session:
        assert [w.id for w in session.query(Worker)] == ["live"]


def test_the_api_lists_what_a_live_worker_announced(sessions: sessionmaker[Session]) -> None:
    # given: this worker's announcement (the test plugin's "toy" among it, when installed)
    heartbeat = Heartbeat(JobStore(sessions))
    heartbeat.beat()
    entry_points = [a["name"] for a in heartbeat.architectures if a["source"] == "entry-point"]

    # when
    with sessions() as session:
        listed = list_architectures(session=session)

    # then: the built-ins once, then the entry points
    assert [a.name for a in listed] == ["mlp", "cnn", "resnet18", *sorted(entry_points)]
