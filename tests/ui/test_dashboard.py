"""The dashboard in headless Chromium against a real ``relearn serve`` (API + worker)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.processes import BIN
from tests.e2e.service import Service
from tests.ui.dashboard import heatmap_cells, job_row, save_screenshot, watch_job_row

pytestmark = pytest.mark.e2e


def push(client: httpx.Client, model_id: str, npz: bytes) -> str:
    answer = client.post(f"/v1/models/{model_id}/chunks", files={"file": ("c.npz", npz)})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def test_a_model_its_live_job_and_its_accuracy_matrix(
    service: Service, page: Any, page_errors: list[str], tmp_path: Path
) -> None:
    # given: a naive model (it forgets, so the matrix is not all one value) with two updates
    small = class_incremental_chunks(2, n=96)
    large = class_incremental_chunks(3, n=16000, seed=1)[2]  # long enough to watch
    with service.client() as client:
        body = model_body("ui-digits", {"name": "naive", "params": {}}, epochs=40)
        model_id = client.post("/v1/models", json=body).json()["id"]
        for chunk in small:
            assert service.wait_job(push(client, model_id, chunk.npz()))["status"] == "succeeded"
        assert client.put(f"/v1/models/{model_id}/aliases/production", json={"version": 1})

        # when: the model's page is open while a third, longer job runs
        streams: list[tuple[str, int]] = []
        page.on("response", lambda r: "/events" in r.url and streams.append((r.url, r.status)))
        page.goto(f"{service.url}/ui/#/models/{model_id}")
        page.locator(".heatmap rect.cell").first.wait_for()
        job_id = push(client, model_id, large.npz())
        seen = watch_job_row(
            page, job_id, while_running=lambda: save_screenshot(page, tmp_path, "dashboard-live")
        )

        # then: the page showed the job's progress move, then its end
        assert seen[-1] == ("succeeded", 1.0), seen
        assert any(s == "running" and 0 < p < 1 for s, p in seen), seen
        assert len({p for _, p in seen}) >= 2, seen
        assert job_row(page, job_id).locator(".progress-text").inner_text() == "100%"
        assert any(f"/v1/jobs/{job_id}/events" in url and s == 200 for url, s in streams)
        # the loss so far: the worker's live curve, else the per-epoch losses it reported
        job = client.get(f"/v1/jobs/{job_id}").json()
        epochs = [loss for loss in job["metrics"]["train"]["loss_curve"] if loss is not None]
        curve = job["loss_curve"] or epochs
        loss_chart = page.locator(f'.loss-chart[data-job-id="{job_id}"]')
        assert curve and loss_chart.get_attribute("data-points") == str(len(curve))
        assert loss_chart.locator("polyline").count() == 1

        # then: the heatmap fills in with the API's accuracy matrix, cell for cell
        page.wait_for_function("document.querySelectorAll('.heatmap rect.cell').length === 6")
        metrics = client.get(f"/v1/models/{model_id}/metrics").json()
        matrix = metrics["accuracy_matrix"]
        cells = heatmap_cells(page)
        assert len(cells) == sum(len(row) for row in matrix) == 6
        for r, c, value in cells:
            assert value == pytest.approx(matrix[r][c]), (r, c)
        for figure in ("average_accuracy", "forgetting", "backward_transfer"):
            key = {"average_accuracy": "acc", "backward_transfer": "bwt"}.get(figure, figure)
            shown = page.locator(f'[data-figure="{key}"]').get_attribute("data-value")
            assert float(shown or "nan") == pytest.approx(metrics[figure]), figure
            # the line chart's figures after v3 are the page's own sums of the matrix
            series = {"acc": "ACC", "bwt": "BWT"}.get(key, key)
            dot = page.locator(f'.chart circle[data-series="{series}"][data-x="3"]')
            assert float(dot.get_attribute("data-value") or "nan") == pytest.approx(
                metrics[figure]
            ), figure
        versions = page.locator("tr.version-row")
        assert versions.count() == 4
        assert "production" in page.locator('tr.version-row[data-version="1"]').inner_text()
        save_screenshot(page, tmp_path, "dashboard-model")

        # then: the models page lists the model with its registry facts and last job
        page.goto(f"{service.url}/ui/#/")
        row = page.locator(f'tr.model-row[data-model-id="{model_id}"]')
        row.wait_for()
        page.wait_for_function(
            f"document.querySelector('tr[data-model-id=\"{model_id}\"] .last-job')"
            ".dataset.status === 'succeeded'"
        )
        text = row.inner_text()
        assert "ui-digits" in text and "mlp" in text and "naive" in text
        assert row.locator(".latest-version").inner_text() == "v3"
        assert "production → v1" in row.locator(".aliases").inner_text()
        save_screenshot(page, tmp_path, "dashboard-models")
        # and: each refresh (every 3 s) reads one job a model, newest first, not the whole list
        job_reads: list[str] = []
        page.on("request", lambda r: "/jobs" in r.url and job_reads.append(r.url))
        page.wait_for_timeout(3500)
        assert job_reads and all(
            url.endswith(f"/v1/models/{model_id}/jobs?order=newest&limit=1") for url in job_reads
        ), job_reads
    assert page_errors == []


def test_with_api_keys_the_page_asks_for_one_and_sends_it(
    service: Service, page: Any, page_errors: list[str]
) -> None:
    # given: a key exists, so every /v1 request needs it; a model of its tenant
    made = subprocess.run(
        [str(BIN / "relearn"), "keys", "create", "--tenant", "acme"],
        env=service.processes.env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    key = made.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    with service.client() as client:
        assert client.get("/v1/models").status_code == 401
        body = model_body("acme-model", {"name": "naive", "params": {}})
        assert client.post("/v1/models", json=body, headers=headers).status_code == 201
        # the dashboard's own files need no key
        assert client.get("/ui/js/main.js").status_code == 200

    # when: the page is opened without a key
    page.goto(f"{service.url}/ui/")

    # then: it says a key is needed; once one is saved, it shows the tenant's model
    notice = page.locator("#notice.auth")
    notice.wait_for()
    assert "needs a key" in notice.inner_text()
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")
    page.locator("tr.model-row", has_text="acme-model").wait_for()
    assert page.locator("#notice").is_hidden()
    assert page.evaluate("localStorage.getItem('relearn.apiKey')") == key
    assert page_errors == []


def test_without_the_event_stream_the_page_polls_the_job(
    service: Service, page: Any, page_errors: list[str]
) -> None:
    # given: a proxy that drops event streams (injected: the real API always serves them)
    page.route("**/events?*", lambda route: route.abort("connectionreset"))
    polled: list[str] = []
    page.on("request", lambda request: polled.append(request.url.split("?")[0]))
    chunk = class_incremental_chunks(1, n=2000)[0]
    with service.client() as client:
        body = model_body("polled", {"name": "naive", "params": {}}, epochs=20)
        model_id = client.post("/v1/models", json=body).json()["id"]
        page.goto(f"{service.url}/ui/#/models/{model_id}")
        page.locator(".jobs-card table").wait_for()

        # when: a job runs
        job_id = push(client, model_id, chunk.npz())
        seen = watch_job_row(page, job_id)

    # then: the page followed the job by reading it, through to its end, then its version
    assert seen[-1] == ("succeeded", 1.0), seen
    assert f"{service.url}/v1/jobs/{job_id}" in polled
    page.locator('tr.version-row[data-version="1"]').wait_for()
    page.wait_for_function("document.querySelectorAll('.heatmap rect.cell').length === 1")
    assert page_errors == []
