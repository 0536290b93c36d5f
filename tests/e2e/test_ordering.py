"""Invariant: updates of one model apply one at a time, in chunk submission order, each
from the version the previous one produced; different models update in parallel.

Two models, four chunks each POSTed as fast as possible, two worker processes on Redis.
"""

from __future__ import annotations

from datetime import datetime

import pytest
import torch

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.reference import uninterrupted_run, weights_from_artifact
from tests.e2e.service import Service

pytestmark = [pytest.mark.e2e, pytest.mark.services]

CHUNKS = 4


def test_chunks_apply_in_order_per_model_and_models_in_parallel(
    scaled_service: Service,
) -> None:
    # given: two models and four chunks for each
    bodies = {
        "a": model_body("a", {"name": "der", "params": {"memory_size": 30, "beta": 0.5}}, 6),
        "b": model_body("b", {"name": "er", "params": {"memory_size": 30}}, epochs=6, seed=3),
    }
    data = {"a": class_incremental_chunks(CHUNKS, seed=1), "b": class_incremental_chunks(CHUNKS)}
    with scaled_service.client() as client:
        ids = {k: client.post("/v1/models", json=b).json()["id"] for k, b in bodies.items()}

        # when: all eight chunks are POSTed back to back, interleaved between the models
        accepted: dict[str, list[dict]] = {"a": [], "b": []}
        for i in range(CHUNKS):
            for key in ("a", "b"):
                response = client.post(
                    f"/v1/models/{ids[key]}/chunks",
                    files={"file": (f"{key}{i}.npz", data[key][i].npz())},
                )
                assert response.status_code == 202, response.text
                accepted[key].append(response.json())
        jobs = {
            key: [scaled_service.wait_job(a["job_id"], timeout=300) for a in accepted[key]]
            for key in accepted
        }

        for key in ("a", "b"):
            # then: version n came from chunk n, applied to version n-1
            assert [j["status"] for j in jobs[key]] == ["succeeded"] * CHUNKS, jobs[key]
            assert [j["result_version"] for j in jobs[key]] == list(range(1, CHUNKS + 1))
            versions = client.get(f"/v1/models/{ids[key]}/versions").json()
            versions = versions["items"] if isinstance(versions, dict) else versions
            by_number = {v["number"]: v for v in versions}
            assert sorted(by_number) == list(range(CHUNKS + 1))
            for n in range(1, CHUNKS + 1):
                assert by_number[n]["chunk_id"] == accepted[key][n - 1]["chunk_id"]
                assert by_number[n]["job_id"] == accepted[key][n - 1]["job_id"]
            # one at a time: each job started after the previous one finished
            for before, after in zip(jobs[key], jobs[key][1:], strict=False):
                assert _t(after["started_at"]) >= _t(before["finished_at"])
            # and the lineage is exact: the final weights equal an in-process run of the
            # four chunks in order (any reordering or skipped base would differ)
            artifact = client.get(f"/v1/models/{ids[key]}/versions/latest/artifact").content
            served = weights_from_artifact(artifact)
            for name, tensor in uninterrupted_run(bodies[key], data[key]).items():
                assert torch.equal(served[name], tensor), (key, name)

    # and: the two models were updated in parallel (some job intervals overlap)
    intervals = {k: [(_t(j["started_at"]), _t(j["finished_at"])) for j in jobs[k]] for k in jobs}
    assert any(a0 < b1 and b0 < a1 for a0, a1 in intervals["a"] for b0, b1 in intervals["b"]), (
        intervals
    )


def _t(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)
