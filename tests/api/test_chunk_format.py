"""``app.chunk_format`` on its own: what the worker reads back is what the API accepted,
and what the API refuses it refuses from headers, in bounded time and memory."""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.chunk_format import (
    ChunkFormatError,
    ChunkLimits,
    DecodedSizeExceeded,
    check_chunk_file,
    detect_format,
    read_chunk,
)
from app.chunk_format.npz_file import MAX_CENTRAL_DIRECTORY_BYTES
from tests.api.payloads import chunk_arrays, npz_bytes, safetensors_bytes

LIMITS = ChunkLimits(max_decoded_bytes=64 * 1024 * 1024, max_abs_feature=1e6)


def check(path: Path, input_shape: tuple[int, ...] = (4,), limits: ChunkLimits = LIMITS) -> Any:
    return check_chunk_file(
        path, detect_format(path), input_shape=input_shape, num_classes=3, limits=limits
    )


def write(tmp_path: Path, content: bytes, name: str = "c.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def safetensors_with_header(header: dict[str, Any] | str, data: bytes) -> bytes:
    raw = (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_read_chunk_returns_the_arrays_as_saved(tmp_path: Path, fmt: str) -> None:
    # given
    arrays = chunk_arrays()
    path = write(tmp_path, npz_bytes(arrays) if fmt == "npz" else safetensors_bytes(arrays))

    # when
    chunk = read_chunk(path, detect_format(path))
    counts = check(path)

    # then
    for key in ("x", "y", "x_eval", "y_eval"):
        got = getattr(chunk, key)
        np.testing.assert_array_equal(got, arrays[key])
        assert got.dtype == arrays[key].dtype
        assert got.flags.writeable  # torch.from_numpy warns on read-only arrays
    assert (chunk.num_samples, chunk.num_eval) == (12, 6)
    assert (counts.num_samples, counts.num_eval) == (12, 6)


def test_fortran_order_and_big_endian_arrays_read_correctly(tmp_path: Path) -> None:
    # given
    x = np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4))
    y = np.array([0, 1, 2], dtype=">i4")
    path = write(tmp_path, npz_bytes({"x": x, "y": y}))

    # when
    chunk = read_chunk(path, "npz")

    # then
    np.testing.assert_array_equal(chunk.x, x)
    np.testing.assert_array_equal(chunk.y, y)
    assert chunk.x_eval is None and chunk.num_eval == 0
    assert check(path).num_samples == 3


def test_arrays_larger_than_a_block_are_checked_and_read_whole(tmp_path: Path) -> None:
    # given: 24 MiB of features (several blocks), one bad label at the very end
    n = 1_500_000
    x = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    y = np.zeros(n, np.int64)
    path = write(tmp_path, npz_bytes({"x": x, "y": y}, compressed=True), "c.npz")
    y[-1] = 3
    bad = write(tmp_path, npz_bytes({"x": x, "y": y}), "bad.npz")

    # when
    counts = check(path)
    chunk = read_chunk(path, "npz")

    # then
    assert counts.num_samples == n
    np.testing.assert_array_equal(chunk.x, x)
    with pytest.raises(ChunkFormatError, match="found 3") as caught:
        check(bad)
    assert caught.value.field == "file.y"


def test_uint8_images_of_any_rank_are_accepted_and_kept_as_uint8(tmp_path: Path) -> None:
    # given: 5 RGB images of 8x8, as a cnn with input_shape [3, 8, 8] takes them
    x = np.random.default_rng(0).integers(0, 256, size=(5, 3, 8, 8)).astype(np.uint8)
    path = write(tmp_path, npz_bytes({"x": x, "y": np.array([0, 1, 2, 0, 1])}), "c.npz")

    # when
    counts = check(path, input_shape=(3, 8, 8))
    chunk = read_chunk(path, "npz")

    # then
    assert counts.num_samples == 5
    assert chunk.x.dtype == np.uint8 and chunk.x.shape == (5, 3, 8, 8)
    with pytest.raises(ChunkFormatError, match=r"shape must be \(N, 3, 32, 32\)"):
        check(path, input_shape=(3, 32, 32))


@pytest.mark.parametrize(
    ("x", "reason"),
    [
        (np.full((2, 4), 1e300), "infinite values .once cast to float32"),
        (np.full((2, 4), 3e38, np.float32), r"at most 1e\+06"),
        (np.full((2, 4), -2e6), r"found 2e\+06"),
        (np.full((2, 4), 1e39), "infinite"),  # finite in float64, not in float32
        (np.full((2, 4), np.inf, np.float16), "infinite"),
        (np.full((2, 4), np.nan, np.float16), "NaN"),
        (np.zeros((2, 4), np.int8), "dtype must be float16, float32, float64 or uint8"),
        (np.zeros((2, 4), np.longdouble), "dtype must be"),
        (np.zeros((2, 4), [("a", "<f4")]), "dtype must be"),
    ],
)
def test_features_that_cannot_train_in_float32_are_refused(
    tmp_path: Path, x: np.ndarray, reason: str
) -> None:
    # given
    path = write(tmp_path, npz_bytes({"x": x, "y": np.zeros(2, np.int64)}), "c.npz")

    # when / then
    with pytest.raises(ChunkFormatError, match=reason) as caught:
        check(path)
    assert caught.value.field == "file.x"


def test_the_feature_bound_is_a_setting(tmp_path: Path) -> None:
    # given: features of 5e6, over the default bound of 1e6
    path = write(tmp_path, npz_bytes({"x": np.full((2, 4), 5e6), "y": np.zeros(2, np.int64)}))
    raised = ChunkLimits(max_decoded_bytes=1 << 20, max_abs_feature=1e7)

    # when / then
    with pytest.raises(ChunkFormatError):
        check(path)
    assert check(path, limits=raised).num_samples == 2


def npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def deflate_bomb(decoded_bytes: int) -> bytes:
    """A zip whose x.npy declares and holds ``decoded_bytes`` of zeros, deflated."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("y.npy", npy(np.zeros(1, np.int64)))
        with z.open("x.npy", "w", force_zip64=True) as member:
            member.write(npy_header((decoded_bytes // 16, 4)))
            zeros = bytes(16 * 1024 * 1024)
            for _ in range(decoded_bytes // len(zeros)):
                member.write(zeros)
    return archive.getvalue()


def test_a_compression_bomb_is_refused_by_its_declared_size_at_once(tmp_path: Path) -> None:
    # given: 256 MiB of zeros in a few hundred kB, against a decoded limit of 64 MiB
    path = write(tmp_path, deflate_bomb(256 * 1024 * 1024), "bomb.npz")
    assert path.stat().st_size < 1024 * 1024

    # when
    started = time.process_time()
    with pytest.raises(DecodedSizeExceeded, match="decoded") as caught:
        check(path)
    cpu = time.process_time() - started

    # then: refused without inflating it
    assert caught.value.field == "file"
    assert cpu < 0.2


def test_a_member_that_inflates_past_its_declared_size_is_cut_at_it(tmp_path: Path) -> None:
    # given: x.npy declares 16 bytes of data (and their CRC), but its deflate stream holds
    # 64 MiB more
    x = npy(np.ones((1, 4), np.float32))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("y.npy", npy(np.zeros(1, np.int64)))
        z.writestr("x.npy", x + bytes(64 * 1024 * 1024))
    raw = bytearray(archive.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(raw))).getinfo("x.npy")
    central = raw.rfind(b"PK\x01\x02")  # x.npy's entry: the last one
    for at in (info.header_offset + 14, central + 16):  # CRC, then both sizes
        struct.pack_into("<I", raw, at, zlib.crc32(x))
        struct.pack_into("<I", raw, at + 8, len(x))
    path = write(tmp_path, bytes(raw), "c.npz")

    # when
    counts = check(path)
    chunk = read_chunk(path, "npz")

    # then: the declared bytes are what the API checks and the worker reads
    assert counts.num_samples == 1
    np.testing.assert_array_equal(chunk.x, np.ones((1, 4), np.float32))


def test_a_huge_central_directory_is_refused_before_zipfile_reads_it(tmp_path: Path) -> None:
    # given: 3000 members (zipfile would build an object for each)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3000):
            z.writestr(f"m{i}.npy", b"")
    path = write(tmp_path, archive.getvalue(), "c.npz")

    # when / then
    with pytest.raises(ChunkFormatError, match="central directory") as caught:
        check(path)
    assert str(MAX_CENTRAL_DIRECTORY_BYTES) in caught.value.reason


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_compression_methods_numpy_does_not_write_are_refused(tmp_path: Path, method: int) -> None:
    # given: an archive np.savez would never write (lzma may reserve a huge dictionary)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", method) as z:
        z.writestr("x.npy", npy(np.zeros((2, 4), np.float32)))
        z.writestr("y.npy", npy(np.zeros(2, np.int64)))
    path = write(tmp_path, archive.getvalue(), "c.npz")

    # when / then
    with pytest.raises(ChunkFormatError, match="compression method") as caught:
        check(path)
    assert caught.value.field == "file.x"


def test_a_member_whose_size_disagrees_with_its_header_is_corrupt(tmp_path: Path) -> None:
    # given: x.npy with 4 bytes of data missing
    content = npy(np.zeros((3, 4), np.float32))
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", content[:-4])
        archive.writestr("y.npy", content)

    # when / then
    with pytest.raises(ChunkFormatError) as caught:
        read_chunk(path, "npz")
    assert caught.value.field == "file.x"


def test_a_corrupted_member_is_refused_by_its_crc(tmp_path: Path) -> None:
    # given: the last data byte of a stored x.npy flipped
    raw = bytearray(npz_bytes({"x": np.zeros((3, 4), np.float32), "y": np.zeros(3, np.int64)}))
    info = zipfile.ZipFile(io.BytesIO(bytes(raw))).getinfo("x.npy")
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    raw[info.header_offset + 30 + name_len + extra_len + info.file_size - 1] ^= 0xFF
    path = write(tmp_path, bytes(raw), "c.npz")

    # when / then
    with pytest.raises(ChunkFormatError, match="corrupt"):
        check(path)


def test_a_safetensors_header_naming_a_tensor_twice_is_refused(tmp_path: Path) -> None:
    # given: "x" twice (a JSON parser would keep the last one)
    entry = '{"dtype": "F32", "shape": [1, 4], "data_offsets": [0, 16]}'
    y = '{"dtype": "I64", "shape": [1], "data_offsets": [16, 24]}'
    header = f'{{"x": {entry}, "y": {y}, "x": {entry}}}'
    path = write(tmp_path, safetensors_with_header(header, bytes(24)))

    # when / then
    with pytest.raises(ChunkFormatError, match="twice") as caught:
        check(path)
    assert caught.value.field == "file.x"


@pytest.mark.parametrize(
    ("header", "data", "reason"),
    [
        (
            {
                "x": {"dtype": "F32", "shape": [1, 4], "data_offsets": [0, 16]},
                "y": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
            },
            bytes(16),
            "overlaps",
        ),
        (
            {
                "x": {"dtype": "F32", "shape": [1, 4], "data_offsets": [0, 16]},
                "y": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]},
            },
            bytes(40),
            "holds 40 bytes",
        ),
        (
            {
                "x": {"dtype": "F32", "shape": [1, 4], "data_offsets": [0, 12]},
                "y": {"dtype": "I64", "shape": [1], "data_offsets": [12, 20]},
            },
            bytes(20),
            "do not match",
        ),
        (
            {
                "x": {"dtype": "F32", "shape": [1, True], "data_offsets": [0, 4]},
                "y": {"dtype": "I64", "shape": [1], "data_offsets": [4, 12]},
            },
            bytes(12),
            "shape must be",
        ),
        ("[1, 2]", b"", "not a JSON object"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, b"", "not valid JSON"),
    ],
)
def test_malformed_safetensors_layouts_are_refused(
    tmp_path: Path, header: Any, data: bytes, reason: str
) -> None:
    # given
    path = write(tmp_path, safetensors_with_header(header, data))

    # when / then
    with pytest.raises(ChunkFormatError, match=reason):
        read_chunk(path, "safetensors")


def test_a_safetensors_header_over_a_megabyte_is_refused(tmp_path: Path) -> None:
    # given: a 2 MiB header (its metadata padded)
    header = {"__metadata__": {"pad": "a" * (2 * 1024 * 1024)}}
    path = write(tmp_path, safetensors_with_header(header, b""))

    # when / then
    with pytest.raises(ChunkFormatError, match="header takes"):
        check(path)


def test_errors_are_value_errors_naming_a_field(tmp_path: Path) -> None:
    # given
    path = write(tmp_path, npz_bytes(chunk_arrays()), "c.npz")

    # when / then: the worker catches ValueError
    with pytest.raises(ValueError, match="unknown chunk format"):
        read_chunk(path, "csv")


def test_detect_format_says_when_the_name_lies(tmp_path: Path) -> None:
    # given
    path = write(tmp_path, b"x,y\n1,2\n", "c.npz")

    # when / then
    with pytest.raises(ChunkFormatError, match="despite the name"):
        detect_format(path, "c.npz")
