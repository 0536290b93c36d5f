"""The per-model resource estimate: a replay memory or a model too large for a worker is
a 422 naming the field, at registration and for a chunk's updater override."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.architectures import ArchitectureSpec
from app.db.migrate import upgrade_to_head
from app.schemas.updaters import UpdaterSpec
from app.services.resources import GEM_EXPERIENCES_BUDGETED, estimate
from tests.api.harness import Api, embedded_settings
from tests.api.payloads import chunk_arrays, model_body, npz_bytes

IMAGES = ArchitectureSpec(
    name="cnn", params={"input_shape": [3, 32, 32], "num_classes": 10, "channels": [8]}
)


def test_the_estimate_is_samples_times_sample_bytes() -> None:
    sample = 3 * 32 * 32 * 4 + 8
    er = estimate(IMAGES, UpdaterSpec(name="er", params={"memory_size": 1000}))
    assert er.memory_buffer_bytes == 1000 * sample and er.memory_field == "memory_size"
    der = estimate(IMAGES, UpdaterSpec(name="der", params={"memory_size": 1000}))
    assert der.memory_buffer_bytes == 1000 * (sample + 10 * 4)
    agem = estimate(IMAGES, UpdaterSpec(name="agem", params={"patterns_per_experience": 10}))
    assert agem.memory_buffer_bytes == 10 * GEM_EXPERIENCES_BUDGETED * sample
    gem = estimate(IMAGES, UpdaterSpec(name="gem", params={"patterns_per_experience": 10}))
    assert gem.parameters is not None and gem.parameters > 0
    gradients = gem.parameters * 4 * GEM_EXPERIENCES_BUDGETED
    assert gem.memory_buffer_bytes == agem.memory_buffer_bytes + gradients
    assert estimate(IMAGES, UpdaterSpec(name="naive")).memory_buffer_bytes == 0


def test_a_memory_too_large_for_a_worker_is_a_422_naming_it(api: Api) -> None:
    # 1e6 samples of 3x32x32 float32 ≈ 12 GB > the 8 GiB default
    body = model_body(
        architecture={
            "name": "cnn",
            "params": {"input_shape": [3, 32, 32], "num_classes": 10, "channels": [8]},
        },
        updater={"name": "er", "params": {"memory_size": 1_000_000}},
    )
    response = api.client.post("/v1/models", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "updater.params.memory_size"
    assert "RELEARN_MAX_MEMORY_BUFFER_BYTES" in response.json()["detail"]
    # and: a sensible memory is accepted
    body["updater"] = {"name": "er", "params": {"memory_size": 5000}}
    assert api.client.post("/v1/models", json=body).status_code == 201


def test_limits_come_from_settings(relearn_home: Path) -> None:
    settings = embedded_settings(relearn_home, max_memory_buffer_bytes=1000, max_parameters=50)
    upgrade_to_head(settings.database_url)
    with TestClient(create_app(settings)) as client:
        small = model_body(updater={"name": "naive"})
        too_big = client.post("/v1/models", json=small)
        assert too_big.status_code == 422
        assert too_big.json()["field"] == "architecture.params"
    settings = embedded_settings(relearn_home, max_memory_buffer_bytes=1000)
    with TestClient(create_app(settings)) as client:
        memory = client.post(
            "/v1/models", json=model_body(updater={"name": "er", "params": {"memory_size": 100}})
        )
        assert memory.status_code == 422
        assert memory.json()["field"] == "updater.params.memory_size"
        model = client.post(
            "/v1/models",
            json=model_body(name="m2", updater={"name": "er", "params": {"memory_size": 10}}),
        )
        assert model.status_code == 201, model.text
        # when: a chunk overrides the updater with a larger memory
        response = client.post(
            f"/v1/models/{model.json()['id']}/chunks",
            files={"file": ("c.npz", npz_bytes(chunk_arrays()), "application/octet-stream")},
            data={"updater": '{"name": "gem", "params": {"patterns_per_experience": 50}}'},
        )
        # then
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "updater.params.patterns_per_experience"


@pytest.mark.parametrize("memory_size", [10**15])
def test_an_absurd_memory_size_is_refused_by_its_bound(api: Api, memory_size: int) -> None:
    body = model_body(updater={"name": "er", "params": {"memory_size": memory_size}})
    response = api.client.post("/v1/models", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == "updater.params.memory_size"
