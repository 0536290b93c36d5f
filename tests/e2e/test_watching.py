"""Watching a real worker's job: its event stream while it trains, then ``/metrics``."""

from __future__ import annotations

from typing import Any

import pytest
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.service import Service

pytestmark = pytest.mark.e2e


def test_a_running_job_streams_its_progress_then_metrics_count_it(
    embedded_service: Service,
) -> None:
    # given: a chunk big enough that training takes a few seconds
    body = model_body("watched", {"name": "naive", "params": {}}, epochs=100)
    chunk = class_incremental_chunks(1, n=3000)[0]
    with embedded_service.client() as client:
        model_id = client.post("/v1/models", json=body).json()["id"]
        job_id = client.post(
            f"/v1/models/{model_id}/chunks", files={"file": ("a.npz", chunk.npz())}
        ).json()["job_id"]

        # when: we read the job's events to their end, then scrape
        events: list[tuple[str, dict[str, Any]]] = []
        path = f"/v1/jobs/{job_id}/events"
        with connect_sse(client, "GET", path, params={"interval": 0.1}, timeout=180) as source:
            events = [(e.event, e.json()) for e in source.iter_sse()]
        scraped = client.get("/metrics").text

    # then: progress part-way while running, never backwards, then one `end`
    names = [name for name, _ in events]
    assert names[-1] == "end" and names.count("end") == 1 and set(names) == {"progress", "end"}
    assert any(j["status"] == "running" and 0 < j["progress"] < 1 for _, j in events), events
    progresses = [j["progress"] for _, j in events]
    assert progresses == sorted(progresses)
    assert events[-1][1]["status"] == "succeeded" and events[-1][1]["result_version"] == 1
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
    }
    # (at least: the model's version 0 may have been a job of its own)
    assert samples[("relearn_jobs", (("status", "succeeded"),))] >= 1
    assert samples[("relearn_job_fit_duration_seconds_count", ())] >= 1
    assert samples[("relearn_job_queue_wait_seconds_count", ())] >= 1
    fit = samples[("relearn_job_fit_duration_seconds_sum", ())]
    run = samples[("relearn_job_duration_seconds_sum", (("status", "succeeded"),))]
    assert 0 < fit <= run
