"""What a data chunk is, read and checked without torch and without unpickling.

A chunk is an ``.npz`` or ``.safetensors`` file holding ``x`` (``(N, *input_shape)``:
floats, finite once cast to float32, or uint8 images), ``y`` (integer labels, ``(N,)``)
and optionally ``x_eval``/``y_eval``. The API checks an upload with ``check_chunk_file``
in memory bounded by a block, whatever the file's size or compression; the worker reads
the arrays back with ``read_chunk``. Both go through the same container parsers, so they
agree on what a chunk is. Every failure is a ``ChunkFormatError`` naming the field.
"""

from app.chunk_format.checks import ChunkCounts, ChunkLimits, check_chunk_file
from app.chunk_format.containers import FORMATS, ChunkFormat, detect_format, open_chunk
from app.chunk_format.errors import ChunkFormatError, DecodedSizeExceeded
from app.chunk_format.reading import ChunkArrays, read_chunk

__all__ = [
    "FORMATS",
    "ChunkArrays",
    "ChunkCounts",
    "ChunkFormat",
    "ChunkFormatError",
    "ChunkLimits",
    "DecodedSizeExceeded",
    "check_chunk_file",
    "detect_format",
    "open_chunk",
    "read_chunk",
]
