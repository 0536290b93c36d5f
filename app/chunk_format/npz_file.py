"""The ``.npz`` container (a zip of ``.npy`` members), read in bounded memory.

Only what ``np.savez`` and ``np.savez_compressed`` write is accepted: stored or deflated
members, at most ``MAX_MEMBERS`` of them in a small central directory (checked before
``zipfile`` reads it, since it builds an object per entry). Each member's ``.npy`` header
is parsed before its data: object (pickled) arrays are refused from it, and the size it
implies must equal the member's declared size, which bounds what decompression can
produce, so a compression bomb is refused from the declared sizes alone, before anything
is inflated. Data is then read block by block; nothing reads a member whole.
"""

from __future__ import annotations

import math
import struct
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from app.chunk_format.errors import ChunkFormatError, reason_of
from app.chunk_format.layout import ArrayHeader, check_decoded_size, key_of

NPY_MAX_HEADER = 10_000  # numpy's default max_header_size
MAX_MEMBERS = 16
MAX_CENTRAL_DIRECTORY_BYTES = 64 * 1024
READ_SLICE_BYTES = 16 * 1024 * 1024  # what one zipfile read may materialise as bytes
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
# zip end records (APPNOTE 4.3.16, 4.3.15, 4.3.14): signature and size.
EOCD = (b"PK\x05\x06", 22)
ZIP64_LOCATOR = (b"PK\x06\x07", 20)
ZIP64_EOCD = (b"PK\x06\x06", 56)


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    data_offset: int  # bytes of .npy header before the data, in the decompressed member


class NpzChunk:
    """An opened ``.npz`` chunk (``ChunkFile``): use through ``open_npz``."""

    def __init__(self, archive: zipfile.ZipFile, max_decoded_bytes: int | None) -> None:
        self._archive = archive
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ChunkFormatError("file", f"the archive has {len(infos)} members")
        keys = [key_of(info.filename, ".npy") for info in infos]
        if len(set(keys)) != len(keys):
            raise ChunkFormatError("file", "an array name appears twice in the archive")
        for key, info in zip(keys, infos, strict=True):
            if info.compress_type not in METHODS:
                raise ChunkFormatError(
                    f"file.{key}",
                    f"compression method {info.compress_type} is not accepted: "
                    "write the chunk with np.savez or np.savez_compressed",
                )
        check_decoded_size(sum(info.file_size for info in infos), max_decoded_bytes)
        self._members: dict[str, _Member] = {}
        self._headers: dict[str, ArrayHeader] = {}
        for key, info in zip(keys, infos, strict=True):
            with _as_corrupt(), archive.open(info) as member:
                self._headers[key] = _npy_header(member, key, info.file_size)
                self._members[key] = _Member(info, member.tell())

    @property
    def headers(self) -> Mapping[str, ArrayHeader]:
        return self._headers

    def blocks(self, key: str, block_bytes: int) -> Iterator[np.ndarray]:
        header = self._headers[key]
        itemsize = header.dtype.itemsize
        step = max(1, block_bytes // itemsize) * itemsize
        with _as_corrupt(), self._open_data(key) as member:
            left = header.nbytes
            while left:
                data = member.read(min(step, left))
                if not data or len(data) % itemsize:
                    raise _truncated(key)
                left -= len(data)
                yield np.frombuffer(data, dtype=header.dtype)
            _expect_end(member, key)

    def read(self, key: str) -> np.ndarray:
        header = self._headers[key]
        array = np.empty(header.count, dtype=header.dtype)
        view = array.view(np.uint8).data
        with _as_corrupt(), self._open_data(key) as member:
            filled = 0
            while filled < header.nbytes:
                # A slice at a time: zipfile builds each read as one bytes object.
                piece = view[filled : filled + READ_SLICE_BYTES]
                got = member.readinto(piece)  # type: ignore[attr-defined]
                if not got:
                    raise _truncated(key)
                filled += got
            _expect_end(member, key)
        if header.fortran_order:
            return array.reshape(header.shape[::-1]).transpose()
        return array.reshape(header.shape)

    @contextmanager
    def _open_data(self, key: str) -> Iterator[IO[bytes]]:
        member = self._members[key]
        with self._archive.open(member.info) as stream:
            stream.read(member.data_offset)  # the .npy header, parsed already
            yield stream


@contextmanager
def open_npz(path: Path, max_decoded_bytes: int | None) -> Iterator[NpzChunk]:
    with _as_corrupt():
        _check_central_directory(path)
        archive = zipfile.ZipFile(path)
    with archive:
        yield NpzChunk(archive, max_decoded_bytes)


@contextmanager
def _as_corrupt() -> Iterator[None]:
    """Anything an untrusted archive can make zipfile/zlib/numpy raise (BadZipFile,
    zlib.error, EOFError, NotImplementedError, RuntimeError for encryption, ...) means
    "corrupt": a 422, never a server error."""
    try:
        yield
    except ChunkFormatError:
        raise
    except Exception as exc:
        raise ChunkFormatError("file", f"corrupt .npz archive ({reason_of(exc)})") from None


def _npy_header(member: IO[bytes], key: str, declared_size: int) -> ArrayHeader:
    field = f"file.{key}"
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(
            member, max_header_size=NPY_MAX_HEADER
        )
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(
            member, max_header_size=NPY_MAX_HEADER
        )
    else:
        raise ChunkFormatError(field, f"unsupported .npy format version {version}")
    if dtype.hasobject:
        raise ChunkFormatError(
            field, "object arrays are not accepted (loading them would mean unpickling)"
        )
    header = ArrayHeader(key, dtype, tuple(int(s) for s in shape), bool(fortran_order))
    if member.tell() + math.prod(header.shape) * dtype.itemsize != declared_size:
        raise ChunkFormatError(field, "corrupt .npy member: its size does not match its header")
    return header


def _truncated(key: str) -> ChunkFormatError:
    return ChunkFormatError(f"file.{key}", "corrupt .npy member: truncated data")


def _expect_end(member: IO[bytes], key: str) -> None:
    if member.read(1):  # also reaches EOF, where zipfile checks the CRC
        raise ChunkFormatError(f"file.{key}", "corrupt .npy member: trailing data")


def _check_central_directory(path: Path) -> None:
    """Refuse a central directory over ``MAX_CENTRAL_DIRECTORY_BYTES`` before zipfile reads
    it whole. Finds the end records as ``zipfile._EndRecData``/``_EndRecData64`` do, so
    the size checked is the size zipfile will read; a file without them is left to zipfile
    to call corrupt."""
    size = path.stat().st_size
    signature, eocd_size = EOCD
    with path.open("rb") as f:
        tail_size = min(size, eocd_size + (1 << 16))  # the record and a comment (< 64 KiB)
        f.seek(size - tail_size)
        tail = f.read(tail_size)
        if tail[-eocd_size : -eocd_size + 4] == signature and tail[-2:] == b"\0\0":
            at = len(tail) - eocd_size
        else:
            at = tail.rfind(signature)
            if at < 0 or len(tail) - at < eocd_size:
                return
        (directory_size,) = struct.unpack("<I", tail[at + 12 : at + 16])
        locator_at = size - tail_size + at - ZIP64_LOCATOR[1]
        if locator_at >= ZIP64_EOCD[1]:
            f.seek(locator_at)
            locator = f.read(ZIP64_LOCATOR[1])
            if locator[:4] == ZIP64_LOCATOR[0]:
                f.seek(locator_at - ZIP64_EOCD[1])
                record = f.read(ZIP64_EOCD[1])
                if record[:4] == ZIP64_EOCD[0]:
                    (directory_size,) = struct.unpack("<Q", record[40:48])
    if directory_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ChunkFormatError(
            "file",
            f"the archive's central directory takes {directory_size} bytes "
            f"(at most {MAX_CENTRAL_DIRECTORY_BYTES}: a chunk has at most {MAX_MEMBERS} arrays)",
        )
