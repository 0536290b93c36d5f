"""Submitting chunks through HTTP, for tests about what happens next."""

from __future__ import annotations

from typing import Any

from tests.api.harness import Api
from tests.api.payloads import chunk_arrays, npz_bytes


def post_chunk(
    api: Api,
    model_id: str,
    content: bytes,
    filename: str = "chunk.npz",
    key: str | None = None,
    data: dict[str, str] | None = None,
) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return api.client.post(
        f"/v1/models/{model_id}/chunks",
        files={"file": (filename, content)},
        data=data or {},
        headers=headers,
    )


def submit(api: Api, model_id: str, seed: int = 0, n_eval: int = 6) -> str:
    """POST a valid chunk; the queued job's id."""
    response = post_chunk(api, model_id, npz_bytes(chunk_arrays(seed=seed, n_eval=n_eval)))
    assert response.status_code == 202, response.text
    return response.json()["job_id"]
