"""Submitting chunks: 202 + a queued job; every invalid chunk is a 422 that leaves nothing
behind; idempotent retries; size limit; per-job updater override."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.db.models import Chunk, Job, JobKind, Model
from tests.api.harness import MAX_CHUNK_BYTES, Api
from tests.api.jobs_helpers import post_chunk
from tests.api.payloads import chunk_arrays, npz_bytes, safetensors_bytes


def assert_nothing_recorded(api: Api, model_id: str) -> None:
    assert api.count(Chunk) == 0
    assert api.count(Job, kind=JobKind.update) == 0
    assert api.objects(f"models/{model_id}/chunks") == []
    with api.sessions() as session:
        model = session.get(Model, model_id)
        assert model is not None and model.chunk_count == 0


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_a_valid_chunk_is_stored_and_queued(api: Api, fmt: str) -> None:
    # given
    model = api.create_model()
    arrays = chunk_arrays()
    content = npz_bytes(arrays) if fmt == "npz" else safetensors_bytes(arrays)
    messages_before = api.broker_messages()

    # when
    response = post_chunk(api, model["id"], content, filename=f"part-1.{fmt}")

    # then: 202, Location of the job, the body of the contract
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted == {
        "job_id": accepted["job_id"],
        "chunk_id": accepted["chunk_id"],
        "status": "queued",
    }
    assert response.headers["location"] == f"/v1/jobs/{accepted['job_id']}"
    # and: the job is queued with the model's updater, the chunk stored byte for byte
    job = api.client.get(response.headers["location"]).json()
    assert job["status"] == "queued" and job["progress"] == 0.0
    assert job["updater"] == model["updater"]
    assert job["chunk_id"] == accepted["chunk_id"] and job["model_id"] == model["id"]
    key = f"models/{model['id']}/chunks/{accepted['chunk_id']}.{fmt}"
    assert api.objects(f"models/{model['id']}/chunks") == [key]
    assert api.store.get_bytes(key) == content
    chunk = api.client.get(f"/v1/models/{model['id']}/chunks").json()["items"][0]
    assert chunk["sha256"] == hashlib.sha256(content).hexdigest()
    assert (chunk["num_samples"], chunk["num_eval"], chunk["seq"]) == (12, 6, 1)
    assert chunk["format"] == fmt
    # and: a worker was told, after the commit
    assert api.broker_messages() == messages_before + 1
    assert api.client.get(f"/v1/models/{model['id']}").json()["chunk_count"] == 1


def test_the_format_comes_from_the_content_not_the_name(api: Api) -> None:
    # given: a safetensors file with a misleading name
    model = api.create_model()
    content = safetensors_bytes(chunk_arrays(n_eval=0))

    # when
    response = post_chunk(api, model["id"], content, filename="data.bin")

    # then
    assert response.status_code == 202, response.text
    chunk = api.client.get(f"/v1/models/{model['id']}/chunks").json()["items"][0]
    assert (chunk["format"], chunk["num_eval"]) == ("safetensors", 0)


def test_accepted_dtypes_are_stored_as_sent(api: Api) -> None:
    # given: float16 features and uint8 labels, compressed
    model = api.create_model()
    arrays = chunk_arrays(n_eval=0)
    arrays["x"], arrays["y"] = arrays["x"].astype(np.float16), arrays["y"].astype(np.uint8)
    content = npz_bytes(arrays, compressed=True)

    # when
    response = post_chunk(api, model["id"], content)

    # then
    assert response.status_code == 202, response.text
    key = f"models/{model['id']}/chunks/{response.json()['chunk_id']}.npz"
    assert api.store.get_bytes(key) == content


class Unpicklable:
    """Unpickling this creates a folder: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return os.mkdir, (str(self.marker),)


def with_(**changes: Any) -> Callable[[Path], bytes]:
    """A valid chunk's arrays with some replaced (None removes the key)."""

    def build(_: Path) -> bytes:
        arrays: dict[str, Any] = dict(chunk_arrays())
        for key, value in changes.items():
            if value is None:
                arrays.pop(key)
            else:
                arrays[key] = value(arrays) if callable(value) else value
        return npz_bytes(arrays)

    return build


def pickled_object_array(marker: Path) -> bytes:
    arrays: dict[str, Any] = dict(chunk_arrays())
    arrays["x"] = np.array([Unpicklable(marker)] * 12, dtype=object)
    return npz_bytes(arrays)


def nan_features(a: dict[str, np.ndarray]) -> np.ndarray:
    x = a["x"].copy()
    x[3, 1] = np.nan
    return x


def inf_eval_features(a: dict[str, np.ndarray]) -> np.ndarray:
    x = a["x_eval"].copy()
    x[0, 0] = np.inf
    return x


def truncated_safetensors(_: Path) -> bytes:
    return safetensors_bytes(chunk_arrays())[:-10]


def bf16_safetensors(_: Path) -> bytes:
    """A well-formed safetensors file whose x is bfloat16 (numpy has no such dtype)."""
    x, y = bytes(12 * 4 * 2), np.zeros(12, np.int64).tobytes()
    header = json.dumps(
        {
            "x": {"dtype": "BF16", "shape": [12, 4], "data_offsets": [0, len(x)]},
            "y": {"dtype": "I64", "shape": [12], "data_offsets": [len(x), len(x) + len(y)]},
        }
    ).encode()
    return struct.pack("<Q", len(header)) + header + x + y


def duplicate_key_safetensors(_: Path) -> bytes:
    """A safetensors header naming x twice: a JSON parser would keep the last one."""
    x = '{"dtype": "F32", "shape": [12, 4], "data_offsets": [0, 192]}'
    y = '{"dtype": "I64", "shape": [12], "data_offsets": [192, 288]}'
    header = f'{{"x": {x}, "y": {y}, "x": {x}}}'.encode()
    return struct.pack("<Q", len(header)) + header + bytes(288)


def bzip2_npz(_: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        for key, array in chunk_arrays(n_eval=0).items():
            archive.writestr(f"{key}.npy", _npy(array))
    return buffer.getvalue()


INVALID_CHUNKS: list[tuple[str, Callable[[Path], bytes], str]] = [
    ("int features", with_(x=lambda a: a["x"].astype(np.int32)), "file.x"),
    ("complex features", with_(x=lambda a: a["x"].astype(np.complex64)), "file.x"),
    ("wrong feature count", with_(x=np.zeros((12, 5), np.float32)), "file.x"),
    ("3-d features", with_(x=np.zeros((12, 4, 1), np.float32)), "file.x"),
    ("label out of range", with_(y=np.full(12, 3)), "file.y"),
    ("negative label", with_(y=np.full(12, -1)), "file.y"),
    ("float labels", with_(y=np.zeros(12, np.float32)), "file.y"),
    ("2-d labels", with_(y=np.zeros((12, 1), np.int64)), "file.y"),
    ("NaN feature", with_(x=nan_features), "file.x"),
    ("Inf eval feature", with_(x_eval=inf_eval_features), "file.x_eval"),
    ("empty", with_(x=np.zeros((0, 4), np.float32), y=np.zeros(0, np.int64)), "file.x"),
    ("length mismatch", with_(y=lambda a: a["y"][:-1]), "file.y"),
    ("eval label out of range", with_(y_eval=np.full(6, 7)), "file.y_eval"),
    ("x_eval without y_eval", with_(y_eval=None), "file.y_eval"),
    ("y_eval without x_eval", with_(x_eval=None), "file.x_eval"),
    ("no labels", with_(y=None), "file.y"),
    ("unknown key", with_(z=np.zeros(3)), "file.z"),
    ("pickled object array", pickled_object_array, "file.x"),
    ("corrupt zip", lambda _: b"PK\x03\x04" + bytes(range(256)) * 4, "file"),
    ("not a chunk file", lambda _: b"hello, these are not arrays" * 10, "file"),
    ("empty file", lambda _: b"", "file"),
    ("truncated safetensors", truncated_safetensors, "file"),
    ("bf16 safetensors", bf16_safetensors, "file.x"),
    ("Inf once cast to float32", with_(x=np.full((12, 4), 1e300)), "file.x"),
    ("beyond max_abs_feature", with_(x=np.full((12, 4), 3e38, np.float32)), "file.x"),
    ("int8 features", with_(x=np.zeros((12, 4), np.int8)), "file.x"),
    ("duplicate safetensors key", duplicate_key_safetensors, "file.x"),
    ("bzip2 npz", bzip2_npz, "file.x"),
]


@pytest.mark.parametrize(
    ("build", "field"),
    [pytest.param(build, field, id=name) for name, build, field in INVALID_CHUNKS],
)
def test_an_invalid_chunk_is_a_422_naming_the_field_and_leaves_nothing(
    api: Api, tmp_path: Path, build: Callable[[Path], bytes], field: str
) -> None:
    # given
    model = api.create_model()
    marker = tmp_path / "unpickled"
    content = build(marker)
    messages_before = api.broker_messages()

    # when
    response = post_chunk(api, model["id"], content)

    # then: a problem naming the field, with a reason
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == field, problem
    assert problem["errors"][0]["reason"]
    # and: no row, no object, no message, nothing unpickled
    assert_nothing_recorded(api, model["id"])
    assert api.broker_messages() == messages_before
    assert not marker.exists()


def test_object_arrays_are_refused_without_unpickling_even_as_labels(
    api: Api, tmp_path: Path
) -> None:
    # given: the pickle sits in y, after a valid x
    model = api.create_model()
    marker = tmp_path / "unpickled"
    arrays: dict[str, Any] = dict(chunk_arrays(n_eval=0))
    arrays["y"] = np.array([Unpicklable(marker)] * 12, dtype=object)

    # when
    response = post_chunk(api, model["id"], npz_bytes(arrays))

    # then
    assert response.status_code == 422
    assert response.json()["field"] == "file.y"
    assert "pickl" in response.json()["detail"]
    assert not marker.exists()
    # (the payload really would have created the marker if unpickled)
    pickle.loads(pickle.dumps(Unpicklable(marker)))
    assert marker.exists()


def test_a_chunk_over_the_limit_is_413_and_leaves_nothing(api: Api) -> None:
    # given: a chunk a little over the limit, streamed (the body's declared length is
    # under the early cutoff, so the streaming count must catch it)
    model = api.create_model()
    n = MAX_CHUNK_BYTES // (4 * 4) + 64
    content = npz_bytes({"x": np.zeros((n, 4), np.float32), "y": np.zeros(n, np.int64)})
    assert MAX_CHUNK_BYTES < len(content) < 2 * MAX_CHUNK_BYTES

    # when
    response = post_chunk(api, model["id"], content)

    # then
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "file"
    assert_nothing_recorded(api, model["id"])


def test_a_chunk_decoding_past_the_limit_is_413_and_leaves_nothing(api: Api) -> None:
    # given: 4 MiB of zeros compressed to a few kB (the decoded limit is the upload limit)
    model = api.create_model()
    n = 4 * 1024 * 1024 // 16
    content = npz_bytes({"x": np.zeros((n, 4), np.float32), "y": np.zeros(n, np.int64)}, True)
    assert len(content) < MAX_CHUNK_BYTES < n * 16

    # when
    response = post_chunk(api, model["id"], content)

    # then
    assert response.status_code == 413, response.text
    assert response.json()["field"] == "file"
    assert "decoded" in response.json()["detail"]
    assert_nothing_recorded(api, model["id"])


def test_uint8_features_are_accepted_as_images(api: Api) -> None:
    # given: pixel values 0..255 (the worker scales them to [0, 1])
    model = api.create_model()
    arrays = chunk_arrays(n_eval=0)
    arrays["x"] = np.arange(48, dtype=np.uint8).reshape(12, 4) * 5

    # when
    response = post_chunk(api, model["id"], npz_bytes(arrays))

    # then
    assert response.status_code == 202, response.text


def test_a_body_declared_over_the_limit_is_refused_before_reading(api: Api) -> None:
    # given: a multipart body of 2 MiB (more than limit + form overhead)
    model = api.create_model()
    content = b"\0" * (2 * 1024 * 1024)

    # when
    response = post_chunk(api, model["id"], content)

    # then
    assert response.status_code == 413
    assert "bytes" in response.json()["detail"]
    assert_nothing_recorded(api, model["id"])


def test_an_idempotent_retry_returns_the_original_job(api: Api) -> None:
    # given: a chunk accepted with an Idempotency-Key
    model = api.create_model()
    content = npz_bytes(chunk_arrays())
    first = post_chunk(api, model["id"], content, key="upload-0001")
    assert first.status_code == 202
    messages_after_first = api.broker_messages()

    # when: the client retries the same request
    retry = post_chunk(api, model["id"], content, key="upload-0001")

    # then: the same 202 body, and nothing new
    assert retry.status_code == 202
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert api.count(Chunk) == 1 and api.count(Job, kind=JobKind.update) == 1
    assert len(api.objects(f"models/{model['id']}/chunks")) == 1
    assert api.broker_messages() == messages_after_first


def test_the_same_key_with_a_different_file_is_a_409(api: Api) -> None:
    # given
    model = api.create_model()
    assert post_chunk(api, model["id"], npz_bytes(chunk_arrays(seed=1)), key="k").status_code == 202

    # when
    response = post_chunk(api, model["id"], npz_bytes(chunk_arrays(seed=2)), key="k")

    # then
    assert response.status_code == 409
    assert response.json()["field"] == "Idempotency-Key"
    assert api.count(Chunk) == 1 and api.count(Job, kind=JobKind.update) == 1
    assert len(api.objects(f"models/{model['id']}/chunks")) == 1


def test_the_same_key_with_a_different_updater_is_a_409(api: Api) -> None:
    # given
    model = api.create_model()
    content = npz_bytes(chunk_arrays())
    assert post_chunk(api, model["id"], content, key="k").status_code == 202

    # when
    response = post_chunk(api, model["id"], content, key="k", data={"updater": '{"name": "naive"}'})

    # then
    assert response.status_code == 409
    assert api.count(Job, kind=JobKind.update) == 1


def test_keys_are_per_model(api: Api) -> None:
    # given: two models
    a, b = api.create_model(), api.create_model()
    content = npz_bytes(chunk_arrays())

    # when: the same key is used on both
    first = post_chunk(api, a["id"], content, key="k")
    second = post_chunk(api, b["id"], content, key="k")

    # then: two jobs
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] != second.json()["job_id"]
    assert api.count(Job, kind=JobKind.update) == 2


def test_an_idempotency_race_is_decided_by_the_unique_constraint(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a first request committed, and a second one whose look-up ran before that
    # commit (simulated: its first look-up finds nothing)
    from app.services import chunks as service

    model = api.create_model()
    content = npz_bytes(chunk_arrays())
    first = post_chunk(api, model["id"], content, key="race")
    real_lookup = service._earlier_submission
    calls: list[int] = []

    def stale_then_real(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else real_lookup(*args, **kwargs)

    monkeypatch.setattr(service, "_earlier_submission", stale_then_real)

    # when: the second request inserts and hits the constraint
    second = post_chunk(api, model["id"], content, key="race")

    # then: it answers the original job; its own object was removed; the seq did not move
    assert len(calls) == 2
    assert second.status_code == 202
    assert second.json() == first.json()
    assert api.count(Chunk) == 1 and api.count(Job, kind=JobKind.update) == 1
    assert len(api.objects(f"models/{model['id']}/chunks")) == 1
    assert api.client.get(f"/v1/models/{model['id']}").json()["chunk_count"] == 1


def test_chunks_get_consecutive_sequence_numbers(api: Api) -> None:
    # given
    model = api.create_model()

    # when
    job_ids = [
        post_chunk(api, model["id"], npz_bytes(chunk_arrays(seed=s))).json()["job_id"]
        for s in range(3)
    ]

    # then
    jobs = api.client.get(f"/v1/models/{model['id']}/jobs").json()["items"]
    assert [j["id"] for j in jobs] == job_ids
    assert [j["seq"] for j in jobs] == [1, 2, 3]


def test_the_updater_form_field_overrides_the_models_for_this_job(api: Api) -> None:
    # given
    model = api.create_model(updater={"name": "er", "params": {"memory_size": 50}})

    # when
    response = post_chunk(
        api,
        model["id"],
        npz_bytes(chunk_arrays()),
        data={"updater": '{"name": "der", "params": {"beta": 0.5}}'},
    )

    # then: the job records the normalized override
    assert response.status_code == 202, response.text
    job = api.client.get(response.headers["location"]).json()
    assert job["updater"]["name"] == "der"
    # (the override's own value, and DER's defaults rather than the model's ER memory)
    assert (
        job["updater"]["params"] | {"memory_size": 500, "alpha": 0.3, "beta": 0.5}
        == (job["updater"]["params"])
    )


@pytest.mark.parametrize(
    ("updater", "field"),
    [
        ('{"name": "der", "params": {"alpha": -0.5}}', "updater.params.alpha"),
        ('{"name": "gem", "params": {"memory_strength": NaN}}', "updater"),
        ('{"name": "der", "params": {"alpha": 1e999}}', "updater.params.alpha"),
        ('{"name": "magic"}', "updater.name"),
        ('{"name": "er", "params": {"memory": 1}}', "updater.params.memory"),
        ('{"name": "er"', "updater"),
        ('{"name": "er", "params": ' + "[" * 20_000 + "]" * 20_000 + "}", "updater"),
        ('["er"]', "updater"),
    ],
)
def test_a_bad_updater_override_is_a_422_and_leaves_nothing(
    api: Api, updater: str, field: str
) -> None:
    # given
    model = api.create_model()

    # when
    response = post_chunk(api, model["id"], npz_bytes(chunk_arrays()), data={"updater": updater})

    # then
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert_nothing_recorded(api, model["id"])


def test_form_mistakes_are_4xx_problems(api: Api) -> None:
    # given
    model = api.create_model()
    url = f"/v1/models/{model['id']}/chunks"
    content = npz_bytes(chunk_arrays())

    # when: no file part / an unknown field / JSON instead of multipart / two files
    no_file = api.client.post(url, files={"updater": (None, '{"name": "er"}')})
    unknown = api.client.post(url, files={"file": ("a.npz", content)}, data={"colour": "red"})
    not_multipart = api.client.post(url, json={"x": [1, 2]})
    two_files = api.client.post(
        url, files=[("file", ("a.npz", content)), ("file", ("b.npz", content))]
    )
    bad_key = api.client.post(
        url, files={"file": ("a.npz", content)}, headers={"Idempotency-Key": "k" * 201}
    )

    # then
    assert (no_file.status_code, no_file.json()["field"]) == (422, "file")
    assert (unknown.status_code, unknown.json()["field"]) == (422, "colour")
    assert not_multipart.status_code == 415
    assert (two_files.status_code, two_files.json()["field"]) == (422, "file")
    assert (bad_key.status_code, bad_key.json()["field"]) == (422, "Idempotency-Key")
    for response in (no_file, unknown, not_multipart, two_files, bad_key):
        assert response.headers["content-type"] == "application/problem+json"
    assert_nothing_recorded(api, model["id"])


def test_a_malformed_multipart_body_is_a_400(api: Api) -> None:
    # given: a multipart body that never reaches its closing boundary
    model = api.create_model()
    body = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.npz"\r\n\r\nPK'

    # when
    response = api.client.post(
        f"/v1/models/{model['id']}/chunks",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
    )

    # then
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert_nothing_recorded(api, model["id"])


def test_a_chunk_for_an_unknown_model_is_a_404(api: Api) -> None:
    # when
    response = post_chunk(api, "f" * 32, npz_bytes(chunk_arrays()))

    # then
    assert response.status_code == 404
    assert api.count(Chunk) == 0 and api.objects() == []


def test_uploads_stream_in_pieces(api: Api) -> None:
    # given: a body sent as an iterator of small pieces (chunked transfer, no length)
    model = api.create_model()
    content = npz_bytes(chunk_arrays(n=200))
    boundary = "relearn-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.npz"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]

    # when
    response = api.client.post(
        f"/v1/models/{model['id']}/chunks",
        content=iter(pieces),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    # then: the stored object is exactly the file part
    assert response.status_code == 202, response.text
    key = f"models/{model['id']}/chunks/{response.json()['chunk_id']}.npz"
    assert api.store.get_bytes(key) == content


def test_npz_header_cannot_make_the_api_allocate_more_than_declared(api: Api) -> None:
    # given: an .npz whose x header claims a huge shape but holds 16 bytes
    model = api.create_model()
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 4), np.float32))
    header["shape"] = (10**12, 4)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    buffer.write(np.zeros(4, np.float32).tobytes())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("x.npy", buffer.getvalue())
        z.writestr("y.npy", _npy(np.zeros(1, np.int64)))

    # when
    response = post_chunk(api, model["id"], archive.getvalue())

    # then
    assert response.status_code == 422
    assert response.json()["field"] == "file.x"
    assert_nothing_recorded(api, model["id"])


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
