"""Rollback end to end: a real worker runs the rollback in queue order between two chunks,
on the embedded defaults and scaled out (PostgreSQL, Redis, S3 on moto, two workers)."""

from __future__ import annotations

import pytest

from tests.e2e.data import class_incremental_chunks, model_body
from tests.e2e.service import Service

pytestmark = pytest.mark.e2e


def rollback_story(service: Service) -> None:
    # given: chunk A applied (version 1), chunk B pushed
    a, b, c = class_incremental_chunks(3)
    body = model_body("rolled-e2e", {"name": "er", "params": {"memory_size": 40}})
    with service.client() as client:
        model_id = client.post("/v1/models", json=body).json()["id"]

        def push(chunk: object) -> dict:
            answer = client.post(
                f"/v1/models/{model_id}/chunks",
                files={"file": ("c.npz", chunk.npz())},  # type: ignore[attr-defined]
            )
            assert answer.status_code == 202, answer.text
            return answer.json()

        pushed = [push(a)]
        service.wait_job(pushed[0]["job_id"])
        pushed.append(push(b))
        # when: a rollback to 1 is asked for while B is queued or running, then C is pushed
        asked = client.post(f"/v1/models/{model_id}/rollback", json={"version": 1})
        assert asked.status_code == 202, asked.text
        pushed.append(push(c))
        jobs = [service.wait_job(p["job_id"]) for p in pushed[:2]]
        rolled = service.wait_job(asked.json()["id"])
        after = service.wait_job(pushed[2]["job_id"])

        # then: B, the rollback, C published 2, 3, 4 in that order, C from the rollback
        assert [j["result_version"] for j in (*jobs, rolled, after)] == [1, 2, 3, 4]
        assert after["base_version"] == 3
        versions = {
            v["number"]: v for v in client.get(f"/v1/models/{model_id}/versions").json()["items"]
        }
        assert versions[3]["parent"] == 1 and versions[4]["parent"] == 3
        assert versions[3]["artifact_sha256"] == versions[1]["artifact_sha256"]
        one = client.get(f"/v1/models/{model_id}/versions/1/artifact").content
        assert client.get(f"/v1/models/{model_id}/versions/3/artifact").content == one
        # and: the accuracy matrix follows the lineage 1 → 3 → 4 (B left it)
        metrics = client.get(f"/v1/models/{model_id}/metrics").json()
        assert metrics["chunk_ids"] == [pushed[0]["chunk_id"], pushed[2]["chunk_id"]]
        assert client.get(f"/v1/models/{model_id}").json()["storage_bytes"] > len(one)


def test_rollback_on_embedded_defaults(embedded_service: Service) -> None:
    rollback_story(embedded_service)


@pytest.mark.services
def test_rollback_on_postgres_redis_s3(scaled_service: Service) -> None:
    rollback_story(scaled_service)
