"""Pretrained weights as a user uploads them: a safetensors ``state_dict``, read without
torch and without unpickling anything.

``read_weights`` parses the header (JSON after an 8-byte length), checks that every
tensor's byte range fits its dtype and shape and that the ranges tile the data exactly,
then checks every floating tensor is finite, block by block from a memory map. ``misfits``
compares the tensors with what an architecture expects; the API (built-ins) and the
worker (entry-point architectures) word a misfit the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit
FINITE_BLOCK_ELEMENTS = 1 << 22
ITEM_SIZES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
# Floating dtypes as the unsigned integers of their bits, and their exponent mask: all
# exponent bits set means inf or NaN.
EXPONENT_MASKS = {"F16": (np.uint16, 0x7C00), "BF16": (np.uint16, 0x7F80)}
NUMPY_FLOATS = {"F32": np.float32, "F64": np.float64}


class WeightsFileError(ValueError):
    """Not a usable safetensors file; the message says why."""


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int  # byte offsets into the data section
    end: int


def read_weights(path: Path) -> dict[str, TensorInfo]:
    """The tensors of a safetensors file, checked for structure and finite values."""
    size = path.stat().st_size
    with path.open("rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise WeightsFileError("not a safetensors file (shorter than its 8-byte header size)")
        header_size = int.from_bytes(prefix, "little")
        if header_size > MAX_HEADER_BYTES or 8 + header_size > size:
            raise WeightsFileError("not a safetensors file (its header size is out of range)")
        raw = f.read(header_size)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise WeightsFileError("not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise WeightsFileError("not a safetensors file (its header is not a JSON object)")
    header.pop("__metadata__", None)
    tensors = {name: _tensor_info(name, entry) for name, entry in header.items()}
    _check_tiling(tensors, size - 8 - header_size)
    data_start = 8 + header_size
    for name, info in tensors.items():
        if not _is_finite(path, data_start, info):
            raise WeightsFileError(f"tensor {name!r}: holds NaN or infinite values")
    return tensors


def _tensor_info(name: str, entry: object) -> TensorInfo:
    if not isinstance(entry, dict):
        raise WeightsFileError(f"tensor {name!r}: its header entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in ITEM_SIZES:
        raise WeightsFileError(
            f"tensor {name!r}: dtype {dtype!r} is not supported; use one of {sorted(ITEM_SIZES)}"
        )
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise WeightsFileError(f"tensor {name!r}: shape must be a list of non-negative ints")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise WeightsFileError(f"tensor {name!r}: data_offsets must be [begin, end]")
    info = TensorInfo(str(dtype), tuple(shape), offsets[0], offsets[1])
    if info.end - info.begin != math.prod(info.shape) * ITEM_SIZES[info.dtype]:
        raise WeightsFileError(f"tensor {name!r}: its byte range does not match dtype and shape")
    return info


def _check_tiling(tensors: Mapping[str, TensorInfo], data_size: int) -> None:
    """The byte ranges cover the data section exactly, without overlap (as safetensors
    itself requires)."""
    position = 0
    for info in sorted(tensors.values(), key=lambda t: (t.begin, t.end)):
        if info.begin != position:
            raise WeightsFileError("the tensors' byte ranges overlap or leave gaps")
        position = info.end
    if position != data_size:
        raise WeightsFileError("the file's size does not match its tensors' byte ranges")


def _is_finite(path: Path, data_start: int, info: TensorInfo) -> bool:
    count = math.prod(info.shape)
    if count == 0 or (info.dtype not in NUMPY_FLOATS and info.dtype not in EXPONENT_MASKS):
        return True
    if info.dtype in NUMPY_FLOATS:
        dtype, mask = np.dtype(NUMPY_FLOATS[info.dtype]), None
    else:
        bits, exponent = EXPONENT_MASKS[info.dtype]
        dtype, mask = np.dtype(bits), exponent
    values = np.memmap(
        path,
        dtype=dtype.newbyteorder("<"),
        mode="r",
        offset=data_start + info.begin,
        shape=(count,),
    )
    for start in range(0, count, FINITE_BLOCK_ELEMENTS):
        block = values[start : start + FINITE_BLOCK_ELEMENTS]
        finite = np.isfinite(block).all() if mask is None else not (block & mask == mask).any()
        if not finite:
            return False
    return True


@dataclass(frozen=True)
class Expected:
    """A tensor an architecture has: its shape and safetensors dtype."""

    shape: tuple[int, ...]
    dtype: str


def misfits(expected: Mapping[str, Expected], actual: Mapping[str, Expected]) -> list[str]:
    """Why the weights do not fit the architecture, one line per tensor (empty: they fit).
    Missing and misshapen tensors come in the architecture's order, extra ones after."""
    problems: list[str] = []
    for name, want in expected.items():
        got = actual.get(name)
        if got is None:
            problems.append(f"tensor {name!r} is missing: expected shape {_shape(want)}, got none")
        elif got.shape != want.shape:
            problems.append(
                f"tensor {name!r} has the wrong shape: expected {_shape(want)}, got {_shape(got)}"
            )
        elif got.dtype != want.dtype:
            problems.append(
                f"tensor {name!r} has the wrong dtype: expected {want.dtype}, got {got.dtype}"
            )
    for name, got in actual.items():
        if name not in expected:
            problems.append(
                f"tensor {name!r} is not in the architecture: expected none, "
                f"got shape {_shape(got)}"
            )
    return problems


def misfit_message(problems: list[str]) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"weights do not fit the architecture: {problems[0]}{more}"


def _shape(tensor: Expected) -> list[int]:
    return list(tensor.shape)
