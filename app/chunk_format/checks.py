"""Checking an uploaded chunk against a model, in memory bounded by a block.

All headers are checked first (dtypes, shapes, sample counts: nothing decoded yet), then
each array's values a block at a time: features finite once cast to float32 (what the
worker trains on) and within ``max_abs_feature``, labels within ``[0, num_classes)``.
uint8 features are images: any value is valid (the worker scales them to [0, 1]).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from app.chunk_format.containers import open_chunk
from app.chunk_format.errors import ChunkFormatError
from app.chunk_format.layout import ArrayHeader, ChunkFile

FLOAT_ITEMSIZES = (2, 4, 8)  # float16, float32, float64
IMAGE_DTYPE = np.dtype(np.uint8)
# Decoded bytes per block: with its float32 copy and mask, a few MiB of temporaries.
BLOCK_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class ChunkLimits:
    """The server's bounds on any chunk, whatever the model (settings, see ``app.config``)."""

    max_decoded_bytes: int
    max_abs_feature: float


@dataclass(frozen=True)
class ChunkCounts:
    num_samples: int
    num_eval: int


def check_chunk_file(
    path: str | os.PathLike[str],
    fmt: str,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    limits: ChunkLimits,
) -> ChunkCounts:
    """The chunk's sample counts, or a ``ChunkFormatError`` naming the first bad field."""
    with open_chunk(path, fmt, max_decoded_bytes=limits.max_decoded_bytes) as chunk:
        headers = chunk.headers
        pairs = [("x", "y"), ("x_eval", "y_eval")] if "x_eval" in headers else [("x", "y")]
        counts = [_check_pair(headers[x], headers[y], input_shape) for x, y in pairs]
        for x, y in pairs:
            _check_features(chunk, x, limits.max_abs_feature)
            _check_labels(chunk, y, num_classes)
    return ChunkCounts(num_samples=counts[0], num_eval=counts[1] if len(counts) > 1 else 0)


def _check_pair(x: ArrayHeader, y: ArrayHeader, input_shape: tuple[int, ...]) -> int:
    xf, yf = f"file.{x.key}", f"file.{y.key}"
    is_float = x.dtype.kind == "f" and x.dtype.itemsize in FLOAT_ITEMSIZES
    if not (is_float or x.dtype == IMAGE_DTYPE):
        raise ChunkFormatError(
            xf, f"dtype must be float16, float32, float64 or uint8 (images), got {x.dtype}"
        )
    expected = ("N", *input_shape)
    if len(x.shape) != len(expected) or x.shape[1:] != input_shape:
        raise ChunkFormatError(
            xf, f"shape must be {_shape_text(expected)}, got {_shape_text(x.shape)}"
        )
    n = x.shape[0]
    if n == 0:
        raise ChunkFormatError(xf, "empty: at least one sample is needed")
    if y.dtype.kind not in "iu":
        raise ChunkFormatError(yf, f"dtype must be an integer type, got {y.dtype}")
    if len(y.shape) != 1:
        raise ChunkFormatError(yf, f"shape must be (N,), got {_shape_text(y.shape)}")
    if y.shape[0] != n:
        raise ChunkFormatError(yf, f"has {y.shape[0]} labels but {x.key} has {n} samples")
    return n


def _check_features(chunk: ChunkFile, key: str, max_abs: float) -> None:
    if chunk.headers[key].dtype == IMAGE_DTYPE:
        return
    field = f"file.{key}"
    for block in chunk.blocks(key, BLOCK_BYTES):
        with np.errstate(over="ignore", invalid="ignore"):
            values = block.astype(np.float32)  # float64 beyond ±3.4e38 becomes ±inf
        if not np.isfinite(values).all():
            raise ChunkFormatError(field, "contains NaN or infinite values (once cast to float32)")
        largest = float(np.abs(values, out=values).max(initial=0.0))
        if largest > max_abs:
            raise ChunkFormatError(
                field,
                f"|value| must be at most {max_abs:g} (the server's max_abs_feature), "
                f"found {largest:g}: normalise the features",
            )


def _check_labels(chunk: ChunkFile, key: str, num_classes: int) -> None:
    field = f"file.{key}"
    for block in chunk.blocks(key, BLOCK_BYTES):
        if not block.size:
            continue
        low, high = int(block.min()), int(block.max())
        if low < 0:
            raise ChunkFormatError(field, f"labels must be >= 0, found {low}")
        if high >= num_classes:
            raise ChunkFormatError(
                field, f"labels must be < num_classes ({num_classes}), found {high}"
            )


def _shape_text(shape: tuple[object, ...]) -> str:
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"
