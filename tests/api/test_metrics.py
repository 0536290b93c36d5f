"""``GET /v1/models/{id}/metrics`` over versions as the worker publishes them."""

from __future__ import annotations

import pytest

from tests.api.harness import Api
from tests.api.jobs_helpers import submit
from tests.api.published import publish_version


def test_a_new_model_has_an_empty_matrix(api: Api) -> None:
    # given
    model = api.create_model()

    # when
    metrics = api.client.get(f"/v1/models/{model['id']}/metrics").json()

    # then
    assert metrics == {
        "chunk_ids": [],
        "accuracy_matrix": [],
        "average_accuracy": None,
        "forgetting": None,
        "backward_transfer": None,
    }


def test_the_matrix_has_one_row_per_version_and_one_column_per_versions_chunk(api: Api) -> None:
    # given: chunk 1 → v1; chunk 2 cancelled; chunk 3 → v2; chunk 4 (no eval split) → v3.
    # The worker's accuracy lists cover the chunks applied so far (not the cancelled one).
    model = api.create_model()
    jobs = [submit(api, model["id"], seed=s, n_eval=0 if s == 3 else 6) for s in range(4)]
    assert api.client.post(f"/v1/jobs/{jobs[1]}/cancel").status_code == 200
    publish_version(api, model["id"], jobs[0], accuracy=[0.9])
    publish_version(api, model["id"], jobs[2], accuracy=[0.6, 0.8])
    publish_version(api, model["id"], jobs[3], accuracy=[0.7, 0.85, None])
    chunk_of = {
        j["id"]: j["chunk_id"]
        for j in api.client.get(f"/v1/models/{model['id']}/jobs").json()["items"]
    }

    # when
    metrics = api.client.get(f"/v1/models/{model['id']}/metrics").json()

    # then: the cancelled chunk's column is left out
    assert metrics["chunk_ids"] == [chunk_of[jobs[0]], chunk_of[jobs[2]], chunk_of[jobs[3]]]
    assert metrics["accuracy_matrix"] == [[0.9], [0.6, 0.8], [0.7, 0.85, None]]
    assert metrics["average_accuracy"] == pytest.approx((0.7 + 0.85) / 2)
    assert metrics["backward_transfer"] == pytest.approx(((0.7 - 0.9) + (0.85 - 0.8)) / 2)
    assert metrics["forgetting"] == pytest.approx(((0.9 - 0.7) + (0.8 - 0.85)) / 2)


def test_metrics_of_an_unknown_model_are_404(api: Api) -> None:
    # when
    response = api.client.get("/v1/models/" + "d" * 32 + "/metrics")

    # then
    assert response.status_code == 404
