"""Which container a chunk file is, and opening it as a ``ChunkFile``."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from app.chunk_format.errors import ChunkFormatError
from app.chunk_format.layout import ChunkFile, check_keys
from app.chunk_format.npz_file import open_npz
from app.chunk_format.safetensors_file import open_safetensors

ChunkFormat = Literal["npz", "safetensors"]
FORMATS: tuple[ChunkFormat, ...] = ("npz", "safetensors")
SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own header limit


def detect_format(path: str | os.PathLike[str], filename: str | None = None) -> ChunkFormat:
    """The chunk's format from its magic bytes (the content decides; the file name only
    words the error when the content is neither format)."""
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "npz"
    if len(head) == 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if 2 <= header_len <= SAFETENSORS_MAX_HEADER and 8 + header_len <= size:
            return "safetensors"
    suffix = Path(filename or "").suffix.lower()
    said = f" (despite the name {filename!r})" if suffix in (".npz", ".safetensors") else ""
    raise ChunkFormatError("file", f"not an .npz or .safetensors file{said}")


@contextmanager
def open_chunk(
    path: str | os.PathLike[str], fmt: str, *, max_decoded_bytes: int | None = None
) -> Iterator[ChunkFile]:
    """Open a chunk file and parse its headers: only ``x``, ``y``, ``x_eval``, ``y_eval``;
    ``x`` and ``y`` present; the eval pair both or neither; no object arrays; at most
    ``max_decoded_bytes`` of arrays, whatever the compression. No data is read yet."""
    chunk: ChunkFile
    if fmt == "npz":
        with open_npz(Path(path), max_decoded_bytes) as chunk:
            check_keys(chunk.headers)
            yield chunk
    elif fmt == "safetensors":
        with open_safetensors(Path(path), max_decoded_bytes) as chunk:
            check_keys(chunk.headers)
            yield chunk
    else:
        raise ChunkFormatError("file", f"unknown chunk format {fmt!r}; known: {list(FORMATS)}")
