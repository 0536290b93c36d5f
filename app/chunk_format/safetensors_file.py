"""The ``.safetensors`` container, parsed here rather than by the safetensors library.

The format is an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and ``data_offsets``, then the data. Parsing it ourselves lets us refuse what
the library lets through (the same tensor named twice in the header: JSON parsers keep the
last) and read the data in blocks with plain file reads (the library maps the file, and
every page read counts in the process's memory). The layout rules are the library's: the
tensors cover the data section exactly, in order, without holes or overlaps.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from app.chunk_format.errors import ChunkFormatError, reason_of
from app.chunk_format.layout import ALLOWED_KEYS, ArrayHeader, check_decoded_size, key_of

# A chunk's header names at most four tensors: a megabyte leaves room for any metadata.
MAX_HEADER_BYTES = 1024 * 1024
METADATA_KEY = "__metadata__"
# safetensors dtypes that numpy can represent; others (BF16, F8_*) are refused by name.
NUMPY_DTYPES = {
    "F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "<i1", "I16": "<i2", "I32": "<i4",
    "I64": "<i8", "U8": "<u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "|b1",
}  # fmt: skip


@dataclass(frozen=True)
class _Tensor:
    header: ArrayHeader
    begin: int  # offsets into the data section
    end: int


class SafetensorsChunk:
    """An opened ``.safetensors`` chunk (``ChunkFile``): use through ``open_safetensors``."""

    def __init__(self, file: IO[bytes], size: int, max_decoded_bytes: int | None) -> None:
        self._file = file
        raw = file.read(8)
        if len(raw) < 8:
            raise _corrupt("shorter than its header length")
        (header_size,) = struct.unpack("<Q", raw)
        if header_size > MAX_HEADER_BYTES:
            raise ChunkFormatError(
                "file", f"the header takes {header_size} bytes (at most {MAX_HEADER_BYTES})"
            )
        if 8 + header_size > size:
            raise _corrupt("the header runs past the end of the file")
        self._data_start = 8 + header_size
        tensors = _parse_header(file.read(header_size))
        _check_layout(tensors, size - self._data_start)
        check_decoded_size(sum(t.header.nbytes for t in tensors), max_decoded_bytes)
        self._tensors = {t.header.key: t for t in tensors}
        self._headers = {t.header.key: t.header for t in tensors}

    @property
    def headers(self) -> Mapping[str, ArrayHeader]:
        return self._headers

    def blocks(self, key: str, block_bytes: int) -> Iterator[np.ndarray]:
        tensor = self._tensors[key]
        itemsize = tensor.header.dtype.itemsize
        step = max(1, block_bytes // itemsize) * itemsize
        position = self._data_start + tensor.begin
        left = tensor.end - tensor.begin
        while left:
            self._file.seek(position)  # the caller may read other tensors in between
            data = self._file.read(min(step, left))
            if not data or len(data) % itemsize:
                raise _corrupt(f"{key}'s data is truncated")
            position += len(data)
            left -= len(data)
            yield np.frombuffer(data, dtype=tensor.header.dtype)

    def read(self, key: str) -> np.ndarray:
        tensor = self._tensors[key]
        array = np.empty(tensor.header.shape, dtype=tensor.header.dtype)
        view = array.reshape(-1).view(np.uint8).data
        self._file.seek(self._data_start + tensor.begin)
        filled = 0
        while filled < len(view):
            got = self._file.readinto(view[filled:])  # type: ignore[attr-defined]
            if not got:
                raise _corrupt(f"{key}'s data is truncated")
            filled += got
        return array


@contextmanager
def open_safetensors(path: Path, max_decoded_bytes: int | None) -> Iterator[SafetensorsChunk]:
    with path.open("rb") as file:
        yield SafetensorsChunk(file, path.stat().st_size, max_decoded_bytes)


def _corrupt(reason: str) -> ChunkFormatError:
    return ChunkFormatError("file", f"corrupt .safetensors file ({reason})")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: a JSON object naming a key twice is refused."""
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            field = f"file.{name}" if name in ALLOWED_KEYS else "file"
            raise ChunkFormatError(field, f"the safetensors header names {name!r} twice")
        seen[name] = value
    return seen


def _parse_header(raw: bytes) -> list[_Tensor]:
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except ChunkFormatError:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _corrupt(f"its header is not valid JSON: {reason_of(exc)}") from None
    if not isinstance(header, dict):
        raise _corrupt("its header is not a JSON object")
    tensors = []
    for name, info in header.items():
        if name == METADATA_KEY:
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise _corrupt(f"{METADATA_KEY} must map names to strings")
            continue
        tensors.append(_tensor(key_of(name), info))
    return tensors


def _tensor(key: str, info: Any) -> _Tensor:
    field = f"file.{key}"
    if not isinstance(info, dict):
        raise ChunkFormatError(field, "its header entry is not a JSON object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str):
        raise ChunkFormatError(field, "its header entry has no dtype")
    if dtype not in NUMPY_DTYPES:
        raise ChunkFormatError(field, f"dtype {dtype} has no numpy equivalent")
    if not (isinstance(shape, list) and all(_is_size(s) for s in shape)):
        raise ChunkFormatError(field, "its shape must be a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_size, offsets))):
        raise ChunkFormatError(field, "its data_offsets must be two non-negative integers")
    header = ArrayHeader(key, np.dtype(NUMPY_DTYPES[dtype]), tuple(shape))
    begin, end = offsets
    if end - begin != header.nbytes:
        raise ChunkFormatError(field, "its data_offsets do not match its dtype and shape")
    return _Tensor(header, begin, end)


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_layout(tensors: list[_Tensor], data_size: int) -> None:
    """The tensors tile the data section: in offset order, each starts where the last ended."""
    expected = 0
    for tensor in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if tensor.begin != expected:
            raise _corrupt("tensor data overlaps or leaves a gap")
        expected = tensor.end
    if expected != data_size:
        raise _corrupt(f"its data section holds {data_size} bytes, its header {expected}")
