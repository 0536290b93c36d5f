"""Registering a model from pretrained weights: ``POST /v1/models`` as multipart (``spec`` +
``weights``). Version 0 holds the uploaded tensors bit for bit; weights that a built-in
architecture can tell do not fit are a 422 at once, naming the tensor and both shapes."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_torch

from app.architectures import validate_architecture
from app.db.models import Model
from tests.api.harness import Api
from tests.api.initialised import make_version_zero
from tests.api.test_models import CNN, RESNET, artifact
from worker.architectures import build_model

MLP = {"name": "mlp", "params": {"input_dim": 4, "hidden": [8], "num_classes": 3}}


def trained_like(architecture: dict, seed: int = 3) -> dict[str, torch.Tensor]:
    """A state_dict unlike any seeded initialisation: random values everywhere, BatchNorm
    statistics included."""
    generator = torch.Generator().manual_seed(seed)
    state = build_model(validate_architecture(architecture)).state_dict()
    out = {}
    for name, tensor in state.items():
        if tensor.dtype == torch.int64:
            out[name] = torch.tensor(17)
        elif name.endswith("running_var"):
            out[name] = torch.rand(tensor.shape, generator=generator) + 0.5
        else:
            out[name] = torch.randn(tensor.shape, generator=generator)
    return out


def multipart(*parts: tuple[str, str | None, bytes]) -> dict[str, Any]:
    """A multipart body of (name, filename or None for a text field, content) parts, as
    ``client.post`` keyword arguments."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        body += f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return {
        "content": body + b"--b--\r\n",
        "headers": {"content-type": "multipart/form-data; boundary=b"},
    }


def create_from(api: Api, architecture: dict, weights: bytes) -> Any:
    return api.client.post(
        "/v1/models",
        data={"spec": json.dumps({"name": "pretrained", "architecture": architecture})},
        files={"weights": ("pretrained.safetensors", weights)},
    )


@pytest.mark.parametrize("architecture", [MLP, CNN, RESNET])
def test_version_0_holds_the_uploaded_tensors_bit_for_bit(api: Api, architecture: dict) -> None:
    # given: pretrained weights for the architecture
    uploaded = trained_like(architecture)

    # when: registered with them, and a worker has made version 0
    response = create_from(api, architecture, save_torch(uploaded))
    assert response.status_code == 201, response.text
    model = response.json()
    assert model["status"] == "initialising"
    make_version_zero(api, model["id"])

    # then: ready, and version 0's artifact holds exactly the uploaded tensors
    assert api.client.get(f"/v1/models/{model['id']}").json()["status"] == "ready"
    served, metadata = artifact(api, model["id"])
    assert served.keys() == uploaded.keys()
    for name, tensor in uploaded.items():
        assert served[name].dtype == tensor.dtype, name
        assert served[name].numpy().tobytes() == tensor.numpy().tobytes(), name
    assert json.loads(metadata["relearn.architecture"]) == model["architecture"]
    version = api.client.get(f"/v1/models/{model['id']}/versions/0").json()
    assert version["metrics"]["initialisation"]["weights"] == "uploaded"


def misfit_cases() -> list[Any]:
    good = trained_like(CNN)
    missing = {k: v for k, v in good.items() if k != "classifier.3.bias"}
    extra = good | {"classifier.9.weight": torch.zeros(2, 2)}
    reshaped = good | {"features.0.weight": torch.zeros(6, 1, 3, 3)}
    retyped = good | {"classifier.1.bias": good["classifier.1.bias"].half()}
    return [
        pytest.param(missing, ["'classifier.3.bias' is missing", "expected shape [3]",
                               "got none"], id="missing"),
        pytest.param(extra, ["'classifier.9.weight' is not in the architecture",
                             "got shape [2, 2]"], id="extra"),
        pytest.param(reshaped, ["'features.0.weight' has the wrong shape",
                                "expected [4, 1, 3, 3]", "got [6, 1, 3, 3]"], id="shape"),
        pytest.param(retyped, ["'classifier.1.bias' has the wrong dtype", "expected F32, got F16"],
                     id="dtype"),
    ]  # fmt: skip


@pytest.mark.parametrize(("weights", "phrases"), misfit_cases())
def test_weights_that_do_not_fit_a_builtin_are_refused_at_once(
    api: Api, weights: dict[str, torch.Tensor], phrases: list[str]
) -> None:
    # when
    response = create_from(api, CNN, save_torch(weights))

    # then: a 422 on the weights field naming the tensor and both shapes, nothing created
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "weights"
    for phrase in phrases:
        assert phrase in problem["detail"]
    assert api.count(Model) == 0
    assert api.objects() == []


def header_only(header: dict[str, Any], data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def nan_weights() -> bytes:
    weights = trained_like(MLP)
    weights["layers.0.weight"][1, 2] = float("nan")
    return save_torch(weights)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"\x80\x04 a pickle, not safetensors", "not a safetensors file"),
        (b"1234", "not a safetensors file"),
        (header_only({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}), "size"),
        (header_only({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
         "byte range"),
        (header_only({"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\0"),
         "not supported"),
        (header_only({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                      "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
         "overlap"),
        (header_only([1, 2]), "not a JSON object"),  # type: ignore[arg-type]
        (b"\x08\0\0\0\0\0\0\0not json", "not JSON"),
        (nan_weights(), "NaN or infinite"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_sound_safetensors_is_a_422(
    api: Api, content: bytes, phrase: str
) -> None:
    # when
    response = create_from(api, MLP, content)

    # then
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "weights"
    assert phrase in response.json()["detail"]
    assert api.count(Model) == 0


def test_weights_over_the_size_limit_are_a_413(api: Api) -> None:
    # given: more bytes than the API accepts (max_chunk_bytes is 256 KiB in these tests)
    big = save_torch({"w": torch.zeros(200_000)})

    # when
    response = create_from(api, MLP, big)

    # then
    assert response.status_code == 413
    assert api.count(Model) == 0


SPEC = json.dumps({"architecture": MLP}).encode()


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ([("weights", "w.safetensors", b"x")], "spec"),
        ([("spec", None, b"{not json")], "spec"),
        ([("spec", None, json.dumps({"architecture": {"name": "mlp"}}).encode())],
         "architecture.params.input_dim"),
        ([("spec", None, SPEC), ("colour", None, b"red")], "colour"),
        ([("spec", None, SPEC), ("weights", None, b"not a file")], "weights"),
        ([("spec", None, SPEC), ("weights", "a", b"x"), ("weights", "b", b"y")], "weights"),
    ],
)  # fmt: skip
def test_a_bad_form_is_a_422_naming_the_field(
    api: Api, parts: list[tuple[str, str | None, bytes]], field: str
) -> None:
    # when
    response = api.client.post("/v1/models", **multipart(*parts))

    # then
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert api.count(Model) == 0


def test_a_form_with_a_spec_only_is_a_seeded_model(api: Api) -> None:
    # when: multipart without weights
    response = api.client.post("/v1/models", **multipart(("spec", None, SPEC)))

    # then
    assert response.status_code == 201, response.text
    make_version_zero(api, response.json()["id"])
    weights, _ = artifact(api, response.json()["id"])
    assert set(weights) == {"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"}
    assert np.isfinite(weights["layers.0.weight"].numpy()).all()
