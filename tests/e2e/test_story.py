"""The user's story end to end: register, POST chunks, a real worker updates, fetch.

Runs twice: on the embedded defaults (``relearn serve``) and scaled out (PostgreSQL, Redis,
S3 on moto, two workers).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.programs import download_program, logits_without_relearn
from tests.e2e.reference import (
    accuracy_of,
    build_loaded,
    uninterrupted_run,
    weights_from_artifact,
)
from tests.e2e.service import Service

pytestmark = pytest.mark.e2e


def items(listing: object) -> list[dict]:
    return listing["items"] if isinstance(listing, dict) else listing  # type: ignore[index,return-value]


def story(service: Service, tmp_path: Path) -> None:
    # given: a registered model and two chunks, one .npz and one .safetensors
    body = model_body("story", {"name": "er", "params": {"memory_size": 40}})
    chunks = class_incremental_chunks(2)
    with service.client() as client:
        created = client.post("/v1/models", json=body)
        assert created.status_code == 201, created.text
        model = created.json()
        assert model["latest_version"] == 0
        model_id = model["id"]

        # when: both chunks are POSTed and the worker runs the jobs
        accepted = [
            client.post(
                f"/v1/models/{model_id}/chunks", files={"file": ("a.npz", chunks[0].npz())}
            ),
            client.post(
                f"/v1/models/{model_id}/chunks",
                files={"file": ("b.safetensors", chunks[1].safetensors())},
            ),
        ]
        for response in accepted:
            assert response.status_code == 202, response.text
            assert response.json()["status"] == "queued"
            assert response.headers["location"] == f"/v1/jobs/{response.json()['job_id']}"
        jobs = [service.wait_job(r.json()["job_id"]) for r in accepted]

        # then: two new versions, in order, with metrics
        assert [j["status"] for j in jobs] == ["succeeded", "succeeded"], jobs
        assert [j["result_version"] for j in jobs] == [1, 2]
        assert all(j["progress"] == 1.0 and j["finished_at"] for j in jobs)
        versions = items(client.get(f"/v1/models/{model_id}/versions").json())
        assert [v["number"] for v in versions] == [0, 1, 2]
        assert client.get(f"/v1/models/{model_id}").json()["latest_version"] == 2

        metrics = client.get(f"/v1/models/{model_id}/metrics").json()
        assert metrics["chunk_ids"] == [r.json()["chunk_id"] for r in accepted]
        matrix = metrics["accuracy_matrix"]
        assert [len(row) for row in matrix] == [1, 2]
        assert metrics["average_accuracy"] == pytest.approx(np.mean(matrix[-1]))
        assert metrics["backward_transfer"] == pytest.approx(matrix[1][0] - matrix[0][0])

        # and: the artifact is the weights of an uninterrupted in-process run (same seed),
        # and gives the accuracy the service reported
        artifact = client.get(f"/v1/models/{model_id}/versions/latest/artifact")
        assert artifact.status_code == 200
        sha = hashlib.sha256(artifact.content).hexdigest()
        assert artifact.headers["etag"].strip('"') == sha
        served = weights_from_artifact(artifact.content)
        expected = uninterrupted_run(body, chunks)
        assert served.keys() == expected.keys()
        for name, tensor in expected.items():
            assert torch.equal(served[name], tensor), name
        for j, chunk in enumerate(chunks):
            assert accuracy_of(served, body, chunk.x_eval, chunk.y_eval) == pytest.approx(
                matrix[-1][j]
            )

        # and: the pt2 program runs without relearn on any batch size, same logits
        program = download_program(client, f"/v1/models/{model_id}/versions/latest/artifact")
    out = logits_without_relearn(program, chunks[1].x_eval, 6, tmp_path)
    logits = build_loaded(served, body)(torch.from_numpy(chunks[1].x_eval)).detach().numpy()
    np.testing.assert_allclose(out, logits, rtol=1e-5, atol=1e-5)


def test_story_on_embedded_defaults(embedded_service: Service, tmp_path: Path) -> None:
    story(embedded_service, tmp_path)


@pytest.mark.services
def test_story_on_postgres_redis_s3(scaled_service: Service, tmp_path: Path) -> None:
    story(scaled_service, tmp_path)


def test_progress_is_visible_while_running(embedded_service: Service) -> None:
    # given: a chunk big enough that training takes a few seconds
    body = model_body("slow", {"name": "naive", "params": {}}, epochs=100)
    chunk = class_incremental_chunks(1, n=3000)[0]
    with embedded_service.client() as client:
        model_id = client.post("/v1/models", json=body).json()["id"]
        job_id = client.post(
            f"/v1/models/{model_id}/chunks", files={"file": ("a.npz", chunk.npz())}
        ).json()["job_id"]

        # when: we poll the job while it runs
        seen: list[tuple[str, float]] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            seen.append((job["status"], job["progress"]))
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.05)

    # then: it was seen running part-way, progress never went back, and it finished
    partial = [p for s, p in seen if s == "running" and 0 < p < 1]
    assert partial, seen[:20]
    progresses = [p for _, p in seen]
    assert progresses == sorted(progresses)
    assert seen[-1] == ("succeeded", 1.0)
