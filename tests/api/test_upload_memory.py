"""The API's memory does not grow with an upload: checking a chunk takes a few MiB
whatever its size or compression, and a compression bomb is refused without inflating it.

Memory is measured where it is spent, in another process: the peak resident size
(``ru_maxrss``) of a child that checks one file, and the peak (``VmHWM``) of a uvicorn
serving the API while it receives uploads.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.api.live_server import REPO, live_api
from tests.api.payloads import chunk_arrays, model_body, npz_bytes, safetensors_bytes

MIB = 1024 * 1024
ARRAY_BYTES = 64 * MIB  # each test chunk's x
BOMB_BYTES = 400 * MIB  # what the bomb inflates to (its file: under a megabyte)
DECODED_LIMIT = 128 * MIB
# What checking may add to a process's peak: blocks of 2 MiB, their float32 copy, zlib.
GROWTH_LIMIT_KIB = 32 * 1024
CHECK_IN_CHILD = """
import json, resource, sys
from app.chunk_format import ChunkFormatError, ChunkLimits, check_chunk_file, detect_format
limits = ChunkLimits(max_decoded_bytes=int(sys.argv[3]), max_abs_feature=1e6)
def check(path):
    return check_chunk_file(path, detect_format(path), input_shape=(4,), num_classes=3,
                            limits=limits)
check(sys.argv[1])  # warm up: imports, first allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = check(sys.argv[2]).num_samples
except ChunkFormatError as exc:
    outcome = type(exc).__name__
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "growth_kib": after - before}))
"""


def big_arrays() -> dict[str, np.ndarray]:
    """``ARRAY_BYTES`` of float32 features (a repeated random row block: quick to deflate)."""
    n = ARRAY_BYTES // 16
    block = np.random.default_rng(0).normal(size=(4096, 4)).astype(np.float32)
    return {"x": np.tile(block, (n // 4096, 1)), "y": np.zeros(n, np.int64)}


def bomb() -> bytes:
    """A chunk that would be valid, of ``BOMB_BYTES`` of zeros: x (N, 4) float32 and y (N,)
    int64, deflated to under a megabyte."""
    n = BOMB_BYTES // 24
    zeros = bytes(MIB)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, shape, dtype, size in (("x", (n, 4), "<f4", 16 * n), ("y", (n,), "<i8", 8 * n)):
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                member.write(_npy_header(shape, dtype))
                for start in range(0, size, len(zeros)):
                    member.write(zeros[: min(len(zeros), size - start)])
    return buffer.getvalue()


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def chunk_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("big-chunks")
    arrays = big_arrays()
    contents = {
        "small.npz": npz_bytes(chunk_arrays()),
        "stored.npz": npz_bytes(arrays),
        "deflated.npz": npz_bytes(arrays, compressed=True),
        "big.safetensors": safetensors_bytes(arrays),
        "bomb.npz": bomb(),
    }
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    return {name: folder / name for name in contents}


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("stored.npz", ARRAY_BYTES // 16),
        ("deflated.npz", ARRAY_BYTES // 16),
        ("big.safetensors", ARRAY_BYTES // 16),
        ("bomb.npz", "DecodedSizeExceeded"),
    ],
)
def test_checking_a_chunk_takes_bounded_memory(
    chunk_files: dict[str, Path], name: str, outcome: object
) -> None:
    # given: a child process, warmed up on a small chunk
    command = [sys.executable, "-c", CHECK_IN_CHILD, str(chunk_files["small.npz"])]

    # when: it checks a 64 MiB chunk (or a bomb)
    result = subprocess.run(
        [*command, str(chunk_files[name]), str(DECODED_LIMIT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )

    # then: its peak memory grew by a few MiB, not by the array's size
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == outcome
    assert report["growth_kib"] < GROWTH_LIMIT_KIB, report


def test_the_api_serves_big_uploads_and_bombs_in_constant_memory(
    chunk_files: dict[str, Path], tmp_path: Path
) -> None:
    # given: the API in its own process, warmed up by one small upload
    home = tmp_path / "home"
    home.mkdir()
    with (
        live_api(home, max_chunk_bytes=str(DECODED_LIMIT)) as api,
        httpx.Client(base_url=api.url, timeout=120) as client,
    ):
        model = client.post("/v1/models", json=model_body()).json()
        url = f"/v1/models/{model['id']}/chunks"

        def upload(name: str) -> httpx.Response:
            with chunk_files[name].open("rb") as f:
                return client.post(url, files={"file": (name, f)})

        assert upload("small.npz").status_code == 202
        resident = api.status_kib("VmRSS")
        api.reset_peak_memory()

        # when: 64 MiB chunks, stored and deflated, and a bomb inflating to 400 MiB
        statuses = [upload(name).status_code for name in ("stored.npz", "deflated.npz")]
        cpu_before = api.cpu_seconds()
        refused = upload("bomb.npz")
        bomb_cpu = api.cpu_seconds() - cpu_before

        # then: all answered; the peak grew by a few MiB; the bomb cost no inflating
        growth = api.status_kib("VmHWM") - resident
    assert statuses == [202, 202]
    assert refused.status_code == 413
    assert "decoded" in refused.json()["detail"]
    assert growth < GROWTH_LIMIT_KIB + 16 * 1024, f"peak grew by {growth} KiB"
    assert bomb_cpu < 1.0
