"""Real models end to end, through HTTP and real workers: a ``cnn``, a ``resnet18`` and
the test plugin's entry-point ``toy``, each registered from pretrained weights, updated on
image chunks (float and uint8), its version 0 the uploaded tensors bit for bit, its
versions those of an uninterrupted in-process run, and its ``.pt2`` program giving the
safetensors weights' logits without relearn installed.

Runs on the embedded defaults (``relearn serve``) and on PostgreSQL + Redis + S3.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from safetensors.torch import save as save_torch

from tests.e2e.images import image_chunks, pretrained_weights
from tests.e2e.programs import download_program, logits_without_relearn
from tests.e2e.reference import (
    build_loaded,
    features,
    spec_of,
    uninterrupted_run,
    weights_from_artifact,
)
from tests.e2e.service import Service
from tests.services import IN_CI

pytestmark = pytest.mark.e2e

CASES: dict[str, dict[str, Any]] = {
    "cnn": {
        "architecture": {
            "name": "cnn",
            "params": {"input_shape": [1, 12, 12], "num_classes": 4, "channels": [4, 8],
                       "hidden": 16},
        },
        "updater": {"name": "er", "params": {"memory_size": 16}},
    },
    "resnet18": {
        "architecture": {"name": "resnet18", "params": {"num_classes": 4, "width": 4}},
        "updater": {"name": "naive", "params": {}},
    },
    "toy": {
        "architecture": {"name": "toy", "params": {"input_shape": [2, 6, 6], "num_classes": 4}},
        "updater": {"name": "naive", "params": {}},
    },
}  # fmt: skip


def body_of(name: str) -> dict[str, Any]:
    case = CASES[name]
    return {
        "name": f"real-{name}",
        "architecture": case["architecture"],
        "updater": case["updater"],
        "training": {"epochs": 1, "batch_size": 16, "lr": 0.05, "seed": 5},
    }


def wait_announced(client: httpx.Client, name: str, timeout: float = 90) -> list[dict]:
    """The listing once a worker has announced ``name`` (its heartbeat runs at start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = client.get("/v1/architectures").json()["items"]
        if name in [a["name"] for a in items]:
            return items
        time.sleep(0.2)
    raise TimeoutError(f"no worker announced {name!r}")


def toy_installed() -> bool:
    from importlib.metadata import entry_points

    installed = any(ep.name == "toy" for ep in entry_points(group="relearn.architectures"))
    if not installed and IN_CI:
        pytest.fail("the test plugin is not installed; `make test` installs it")
    return installed


def real_models(service: Service, tmp_path: Path) -> None:
    names = ["cnn", "resnet18", *(["toy"] if toy_installed() else [])]
    with service.client() as client:
        # given: the architectures the service can build, the plugin's among them
        items = wait_announced(client, names[-1])
        sources = {a["name"]: a["source"] for a in items}
        expected = {"cnn": "builtin", "resnet18": "builtin", "toy": "entry-point"}
        assert {n: sources[n] for n in names} == {n: expected[n] for n in names}

        for name in names:
            check_one(service, client, name, tmp_path / name)


def check_one(service: Service, client: httpx.Client, name: str, folder: Path) -> None:
    folder.mkdir()
    body = body_of(name)
    spec = spec_of(body)
    shape = tuple(spec.params["input_shape"])
    classes = int(spec.params["num_classes"])
    pretrained = pretrained_weights(spec)
    # one float chunk, one uint8 chunk
    chunks = [
        image_chunks(2, shape, classes, seed=1)[0],
        image_chunks(2, shape, classes, seed=1, dtype=np.uint8)[1],
    ]

    # when: registered from pretrained weights, then two chunks pushed at once
    created = client.post(
        "/v1/models",
        data={"spec": json.dumps(body)},
        files={"weights": ("pretrained.safetensors", save_torch(pretrained))},
    )
    assert created.status_code == 201, created.text
    model = created.json()
    assert (model["latest_version"], model["status"]) == (0, "initialising")
    accepted = [
        client.post(f"/v1/models/{model['id']}/chunks", files={"file": ("a.npz", chunks[0].npz())}),
        client.post(
            f"/v1/models/{model['id']}/chunks",
            files={"file": ("b.safetensors", chunks[1].safetensors())},
        ),
    ]
    for response in accepted:
        assert response.status_code == 202, f"{name}: {response.text}"
    jobs = [service.wait_job(r.json()["job_id"]) for r in accepted]

    # then: ready, versions 0..2, metrics for both chunks
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"], (name, jobs)
    assert client.get(f"/v1/models/{model['id']}").json()["status"] == "ready"
    versions = client.get(f"/v1/models/{model['id']}/versions").json()["items"]
    assert [v["number"] for v in versions] == [0, 1, 2]
    matrix = client.get(f"/v1/models/{model['id']}/metrics").json()["accuracy_matrix"]
    assert [len(row) for row in matrix] == [1, 2]

    # and: version 0 is the uploaded tensors bit for bit
    v0 = weights_from_artifact(client.get(f"/v1/models/{model['id']}/versions/0/artifact").content)
    assert v0.keys() == pretrained.keys()
    for key, tensor in pretrained.items():
        assert v0[key].numpy().tobytes() == tensor.numpy().tobytes(), (name, key)

    # and: the latest weights are an uninterrupted run's from those weights
    latest = weights_from_artifact(
        client.get(f"/v1/models/{model['id']}/versions/latest/artifact").content
    )
    for key, tensor in uninterrupted_run(body, chunks, pretrained).items():
        assert torch.equal(latest[key], tensor), (name, key)

    # and: the pt2 program (batch 1, 7 and N) gives the safetensors weights' eval logits
    program = download_program(client, f"/v1/models/{model['id']}/versions/latest/artifact")
    x = features(chunks[1].x_eval).numpy()
    out = logits_without_relearn(program, x, classes, folder)
    with torch.no_grad():
        expected = build_loaded(latest, body)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_real_models_on_embedded_defaults(embedded_service: Service, tmp_path: Path) -> None:
    real_models(embedded_service, tmp_path)


@pytest.mark.services
def test_real_models_on_postgres_redis_s3(scaled_service: Service, tmp_path: Path) -> None:
    real_models(scaled_service, tmp_path)


def test_weights_that_do_not_fit_fail_the_model_and_its_chunks_are_refused(
    embedded_service: Service,
) -> None:
    # given: an entry-point model (only a worker can check its weights) with weights whose
    # first layer is the wrong shape
    if not toy_installed():
        pytest.skip("the test plugin is not installed (run `make test`)")
    body = body_of("toy")
    weights = pretrained_weights(spec_of(body))
    weights["body.1.weight"] = torch.zeros(8, 5)
    with embedded_service.client() as client:
        wait_announced(client, "toy")
        created = client.post(
            "/v1/models",
            data={"spec": json.dumps(body)},
            files={"weights": ("w.safetensors", save_torch(weights))},
        )
        assert created.status_code == 201, created.text
        model_id = created.json()["id"]

        # when: the worker tries to make version 0
        deadline = time.monotonic() + 120
        while (model := client.get(f"/v1/models/{model_id}").json())["status"] == "initialising":
            assert time.monotonic() < deadline, "still initialising"
            time.sleep(0.2)
        refused = client.post(
            f"/v1/models/{model_id}/chunks",
            files={"file": ("a.npz", image_chunks(1, (2, 6, 6), 4)[0].npz())},
        )
        versions = client.get(f"/v1/models/{model_id}/versions").json()["items"]

    # then: failed, naming the tensor and both shapes; no version; chunks refused (409)
    assert model["status"] == "failed"
    assert "'body.1.weight' has the wrong shape: expected [8, 72], got [8, 5]" in model["error"]
    assert versions == []
    assert refused.status_code == 409, refused.text


def test_the_readme_flow_with_the_cli(embedded_service: Service, tmp_path: Path) -> None:
    # given: a cnn's pretrained weights and a chunk of uint8 images, as the README makes them
    from safetensors.torch import save_file

    from tests.cli.runner import Relearn

    spec = spec_of(body_of("cnn"))
    weights = pretrained_weights(spec)
    save_file(weights, str(tmp_path / "pretrained.safetensors"))
    chunk = image_chunks(1, (1, 12, 12), 4, dtype=np.uint8)[0]
    (tmp_path / "images_001.npz").write_bytes(chunk.npz())
    relearn = Relearn(embedded_service.url)

    # when: registered from the file (waiting for version 0), a chunk pushed and followed,
    # and the program pulled
    created = relearn.ok(
        "models", "create", "--name", "readme-cnn", "--architecture", "cnn",
        "--input-shape", "1,12,12", "--channels", "4,8", "--hidden", "16", "--num-classes", "4",
        "--weights", str(tmp_path / "pretrained.safetensors"), "--wait",
    )  # fmt: skip
    model = json.loads(created.stdout)
    relearn.ok("push", str(tmp_path / "images_001.npz"), "--model", model["id"], "--follow")
    relearn.ok("pull", "--model", model["id"], "--format", "pt2", "-o", str(tmp_path / "m.pt2"))
    relearn.ok("pull", "--model", model["id"], "--version", "0", "-o", str(tmp_path / "v0.st"))

    # then: ready from the file's tensors, one update, and a program that runs batch 1
    assert model["status"] == "ready" and model["architecture"]["params"]["hidden"] == 16
    v0 = weights_from_artifact((tmp_path / "v0.st").read_bytes())
    assert all(torch.equal(v0[k], t) for k, t in weights.items())
    program = (tmp_path / "m.pt2").read_bytes()
    logits = logits_without_relearn(program, features(chunk.x_eval).numpy(), 4, tmp_path)
    assert logits.shape == (len(chunk.y_eval), 4)
