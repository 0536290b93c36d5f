"""Structured logs (``app/logs.py``): one line per event; a job's worker lines are JSON
carrying its ``job_id`` and ``model_id``, the API's carry method, route and status;
``key=value`` lines where asked for."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from app.config import Settings
from app.logs import bound, configure_logging
from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.processes import BIN, Processes, wait_http
from tests.e2e.service import Service, base_env
from tests.services import free_port


def json_lines(text: str) -> list[dict[str, Any]]:
    """The lines that are JSON objects (``relearn serve`` also prints a banner, and
    Celery its own; a line starting with ``{`` must parse)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, config = list(root.handlers), root.level, structlog.get_config()
    yield
    root.handlers, root.level = handlers, level
    structlog.configure(**config)


def test_a_jobs_worker_lines_are_json_with_its_job_and_model_ids(tmp_path: Path) -> None:
    # given: `relearn serve` (API and worker) writing to a file, not a terminal
    port = free_port()
    processes = Processes(tmp_path, base_env(tmp_path / "home") | {"RELEARN_PORT": str(port)})
    server = processes.start("serve", str(BIN / "relearn"), "serve")
    service = Service(f"http://127.0.0.1:{port}", processes)
    try:
        wait_http(f"{service.url}/healthz", server, timeout=90)
        with service.client() as client:
            model = client.post("/v1/models", json=model_body("logged", {"name": "naive"}))
            assert model.status_code == 201, model.text
            model_id = model.json()["id"]
            chunk = class_incremental_chunks(1)[0]
            accepted = client.post(
                f"/v1/models/{model_id}/chunks", files={"file": ("c.npz", chunk.npz())}
            )
            assert accepted.status_code == 202, accepted.text
            job_id = accepted.json()["job_id"]

        # when: the worker runs the job
        assert service.wait_job(job_id)["status"] == "succeeded"
    finally:
        processes.stop_all()

    # then: every JSON line parses; the job's lines name it and its model, from its start
    # to its end, whichever module wrote them
    lines = json_lines(server.log.read_text())
    of_job = [line for line in lines if line.get("job_id") == job_id]
    assert {line["model_id"] for line in of_job} == {model_id}
    events = [line["event"] for line in of_job]
    assert events[0] == "job attempt started" and events[-1] == "job attempt ended"
    assert of_job[-1]["status"] == "succeeded" and of_job[-1]["version"] == 1
    assert all({"timestamp", "level", "logger"} <= line.keys() for line in of_job)
    # and: the API's line for the upload names its method, route template and status
    uploads = [
        line
        for line in lines
        if line.get("event") == "request" and line.get("route") == "/v1/models/{model_id}/chunks"
    ]
    assert [(u["method"], u["status"]) for u in uploads] == [("POST", 202)]


def test_key_value_lines_when_asked_for(logging_restored: None) -> None:
    # given: RELEARN_LOG_FORMAT=keyvalue
    stream = io.StringIO()
    configure_logging("INFO", stream, Settings(log_format="keyvalue").log_format)

    # when: a standard-library logger writes inside a bound job
    with bound(job_id="j1", model_id="m1"):
        logging.getLogger("worker.somewhere").info("fit %s", "done", extra={"steps": 4})
    logging.getLogger("worker.somewhere").info("after")

    # then: one line each, key=value, the ids only on the first
    first, second = stream.getvalue().splitlines()
    assert first.startswith("timestamp=") and 'event="fit done"' in first
    assert "job_id=j1" in first and "model_id=m1" in first and "steps=4" in first
    assert "level=info" in first and "logger=worker.somewhere" in first
    assert "event=after" in second and "job_id" not in second


def test_json_lines_when_not_a_terminal(logging_restored: None) -> None:
    # given: no format chosen ("auto"), a stream that is no terminal
    stream = io.StringIO()
    configure_logging("INFO", stream, "auto")

    # when
    with bound(job_id="j2"):
        structlog.get_logger("relearn.test").warning("stopped", reason="lease lost")

    # then
    (line,) = json_lines(stream.getvalue())
    assert line["event"] == "stopped" and line["reason"] == "lease lost"
    assert line["job_id"] == "j2" and line["level"] == "warning"
