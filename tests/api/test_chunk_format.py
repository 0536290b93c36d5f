"""``app.chunk_format`` on its own: what the worker reads back is what the API accepted."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from app.chunk_format import ChunkFormatError, detect_format, read_chunk, validate_chunk
from tests.api.payloads import chunk_arrays, npz_bytes, safetensors_bytes


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_read_chunk_returns_the_arrays_as_saved(tmp_path: Path, fmt: str) -> None:
    # given
    arrays = chunk_arrays()
    path = tmp_path / f"c.{fmt}"
    path.write_bytes(npz_bytes(arrays) if fmt == "npz" else safetensors_bytes(arrays))

    # when
    chunk = read_chunk(path, detect_format(path))

    # then
    for key in ("x", "y", "x_eval", "y_eval"):
        got = getattr(chunk, key)
        np.testing.assert_array_equal(got, arrays[key])
        assert got.dtype == arrays[key].dtype
        assert got.flags.writeable  # torch.from_numpy warns on read-only arrays
    assert (chunk.num_samples, chunk.num_eval) == (12, 6)
    validate_chunk(chunk, input_shape=(4,), num_classes=3)


def test_fortran_order_and_big_endian_arrays_read_correctly(tmp_path: Path) -> None:
    # given
    x = np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4))
    y = np.array([0, 1, 2], dtype=">i4")
    path = tmp_path / "c.npz"
    path.write_bytes(npz_bytes({"x": x, "y": y}))

    # when
    chunk = read_chunk(path, "npz")

    # then
    np.testing.assert_array_equal(chunk.x, x)
    np.testing.assert_array_equal(chunk.y, y)
    assert chunk.x_eval is None and chunk.num_eval == 0
    validate_chunk(chunk, input_shape=(4,), num_classes=3)


def test_a_compression_bomb_is_refused_by_declared_size(tmp_path: Path) -> None:
    # given: 16 MB of zeros that compress to a few kB
    path = tmp_path / "bomb.npz"
    zeros = {"x": np.zeros((1_000_000, 4), np.float32), "y": np.zeros(1_000_000, np.int64)}
    path.write_bytes(npz_bytes(zeros, compressed=True))
    assert path.stat().st_size < 200_000

    # when / then
    with pytest.raises(ChunkFormatError, match="decoded") as caught:
        read_chunk(path, "npz", max_decoded_bytes=1_000_000)
    assert caught.value.field == "file"


def test_a_member_whose_size_disagrees_with_its_header_is_corrupt(tmp_path: Path) -> None:
    # given: x.npy with 4 bytes of data missing
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 4), np.float32))
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", buffer.getvalue()[:-4])
        archive.writestr("y.npy", buffer.getvalue())

    # when / then
    with pytest.raises(ChunkFormatError) as caught:
        read_chunk(path, "npz")
    assert caught.value.field == "file.x"


def test_errors_are_value_errors_naming_a_field(tmp_path: Path) -> None:
    # given
    path = tmp_path / "c.npz"
    path.write_bytes(npz_bytes(chunk_arrays()))

    # when / then: the worker catches ValueError
    with pytest.raises(ValueError, match="unknown chunk format"):
        read_chunk(path, "csv")


def test_detect_format_says_when_the_name_lies(tmp_path: Path) -> None:
    # given
    path = tmp_path / "c.npz"
    path.write_bytes(b"x,y\n1,2\n")

    # when / then
    with pytest.raises(ChunkFormatError, match="despite the name"):
        detect_format(path, "c.npz")
