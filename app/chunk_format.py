"""Reading and validating an uploaded data chunk, without torch and without unpickling.

A chunk is an ``.npz`` or ``.safetensors`` file holding ``x`` (floats, ``(N, *input_shape)``),
``y`` (integer labels, ``(N,)``) and optionally ``x_eval``/``y_eval``. The API validates
uploads and the worker reads them back with this one module, so both agree on what a chunk
is. Headers are read before any array is allocated; every failure is a ``ChunkFormatError``.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import numpy as np
from safetensors import safe_open

ChunkFormat = Literal["npz", "safetensors"]
FORMATS: tuple[ChunkFormat, ...] = ("npz", "safetensors")
TRAIN_KEYS = ("x", "y")
EVAL_KEYS = ("x_eval", "y_eval")
ALLOWED_KEYS = (*TRAIN_KEYS, *EVAL_KEYS)

FLOAT_ITEMSIZES = (2, 4, 8)  # float16, float32, float64
SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own header limit
NPY_MAX_HEADER = 10_000  # numpy's default max_header_size
FINITE_CHECK_BLOCK = 1 << 22  # elements per isfinite pass (bounds the temporary mask)
# safetensors dtypes that numpy can represent; others (BF16, F8_*) are refused by name.
SAFETENSORS_NUMPY_DTYPES = {
    "F16": "float16", "F32": "float32", "F64": "float64", "I8": "int8", "I16": "int16",
    "I32": "int32", "I64": "int64", "U8": "uint8", "U16": "uint16", "U32": "uint32",
    "U64": "uint64", "BOOL": "bool",
}  # fmt: skip


class ChunkFormatError(ValueError):
    """The chunk is unreadable or invalid; ``field`` is ``file`` or ``file.<key>``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ChunkArrays:
    x: np.ndarray
    y: np.ndarray
    x_eval: np.ndarray | None = None
    y_eval: np.ndarray | None = None

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0]) if self.x.ndim else 0

    @property
    def num_eval(self) -> int:
        return int(self.x_eval.shape[0]) if self.x_eval is not None and self.x_eval.ndim else 0


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


def read_chunk(
    path: str | os.PathLike[str], fmt: str, *, max_decoded_bytes: int | None = None
) -> ChunkArrays:
    """Parse a chunk file into numpy arrays (no shape/label checks: see ``validate_chunk``).

    Checks the structure: only ``x``, ``y``, ``x_eval``, ``y_eval``; ``x`` and ``y``
    present; the eval pair both or neither; no object arrays. ``max_decoded_bytes`` caps
    the total size of the arrays (an ``.npz`` may be compressed).
    """
    if fmt == "npz":
        arrays = _read_npz(Path(path), max_decoded_bytes)
    elif fmt == "safetensors":
        arrays = _read_safetensors(Path(path), max_decoded_bytes)
    else:
        raise ChunkFormatError("file", f"unknown chunk format {fmt!r}; known: {list(FORMATS)}")
    for key in TRAIN_KEYS:
        if key not in arrays:
            raise ChunkFormatError(f"file.{key}", "missing: a chunk needs both x and y")
    for key, partner in (EVAL_KEYS, EVAL_KEYS[::-1]):
        if key in arrays and partner not in arrays:
            raise ChunkFormatError(f"file.{partner}", f"missing: {key} given without {partner}")
    return ChunkArrays(
        x=arrays["x"], y=arrays["y"], x_eval=arrays.get("x_eval"), y_eval=arrays.get("y_eval")
    )


def validate_chunk(arrays: ChunkArrays, *, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Check dtypes, shapes, label range and finiteness for a model with this input shape
    and number of classes. Raises ``ChunkFormatError`` naming the first bad field."""
    _check_pair(arrays.x, arrays.y, "x", "y", input_shape, num_classes)
    if arrays.x_eval is not None and arrays.y_eval is not None:
        _check_pair(arrays.x_eval, arrays.y_eval, "x_eval", "y_eval", input_shape, num_classes)


def _check_pair(
    x: np.ndarray,
    y: np.ndarray,
    x_name: str,
    y_name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> None:
    xf, yf = f"file.{x_name}", f"file.{y_name}"
    if x.dtype.kind != "f" or x.dtype.itemsize not in FLOAT_ITEMSIZES:
        raise ChunkFormatError(xf, f"dtype must be float16, float32 or float64, got {x.dtype}")
    expected = ("N", *input_shape)
    if x.ndim != len(expected) or tuple(x.shape[1:]) != input_shape:
        raise ChunkFormatError(
            xf, f"shape must be {_shape_text(expected)}, got {_shape_text(x.shape)}"
        )
    n = int(x.shape[0])
    if n == 0:
        raise ChunkFormatError(xf, "empty: at least one sample is needed")
    if not _all_finite(x):
        raise ChunkFormatError(xf, "contains NaN or infinite values")
    if y.dtype.kind not in "iu":
        raise ChunkFormatError(yf, f"dtype must be an integer type, got {y.dtype}")
    if y.ndim != 1:
        raise ChunkFormatError(yf, f"shape must be (N,), got {_shape_text(y.shape)}")
    if int(y.shape[0]) != n:
        raise ChunkFormatError(yf, f"has {y.shape[0]} labels but {x_name} has {n} samples")
    low, high = int(y.min()), int(y.max())
    if low < 0:
        raise ChunkFormatError(yf, f"labels must be >= 0, found {low}")
    if high >= num_classes:
        raise ChunkFormatError(yf, f"labels must be < num_classes ({num_classes}), found {high}")


def _all_finite(a: np.ndarray) -> bool:
    flat = a.reshape(-1)
    return all(
        bool(np.isfinite(flat[i : i + FINITE_CHECK_BLOCK]).all())
        for i in range(0, flat.size, FINITE_CHECK_BLOCK)
    )


def _shape_text(shape: tuple[object, ...]) -> str:
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _key_of(name: str, suffix: str) -> str:
    key = name[: -len(suffix)] if suffix and name.endswith(suffix) else name
    if key not in ALLOWED_KEYS:
        shown = key if len(key) <= 64 else key[:61] + "..."
        raise ChunkFormatError(f"file.{shown}", f"unknown key; allowed: {', '.join(ALLOWED_KEYS)}")
    return key


def _check_budget(total: int, limit: int | None) -> None:
    if limit is not None and total > limit:
        raise ChunkFormatError(
            "file", f"arrays would take {total} bytes decoded, more than the limit {limit}"
        )


def _read_npz(path: Path, max_decoded_bytes: int | None) -> dict[str, np.ndarray]:
    """Each member's ``.npy`` header is parsed first: object (pickled) arrays are refused
    from it, and the size it implies must equal the member's declared size, so a forged
    header cannot make us allocate more than the archive declares."""
    # Anything an untrusted archive can make zipfile/numpy raise (BadZipFile, zlib.error,
    # EOFError, NotImplementedError for odd compressions, RuntimeError for encryption, ...)
    # means "corrupt": report it as a 422, never let it escape as a server error.
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            keys = [_key_of(info.filename, ".npy") for info in members]
            if len(set(keys)) != len(keys):
                raise ChunkFormatError("file", "an array name appears twice in the archive")
            _check_budget(sum(info.file_size for info in members), max_decoded_bytes)
            arrays: dict[str, np.ndarray] = {}
            for key, info in zip(keys, members, strict=True):
                with archive.open(info) as member:
                    arrays[key] = _read_npy_member(member, info.file_size, key)
            return arrays
    except ChunkFormatError:
        raise
    except Exception as exc:
        raise ChunkFormatError("file", f"corrupt .npz archive ({_reason(exc)})") from None


def _read_npy_member(member: IO[bytes], declared_size: int, key: str) -> np.ndarray:
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
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    header_size = member.tell()
    if header_size + nbytes != declared_size:
        raise ChunkFormatError(field, "corrupt .npy member: its size does not match its header")
    buffer = bytearray(nbytes)
    view = memoryview(buffer)
    filled = 0
    while filled < nbytes:
        got = member.readinto(view[filled:])  # type: ignore[attr-defined]
        if not got:
            raise ChunkFormatError(field, "corrupt .npy member: truncated data")
        filled += got
    if member.read(1):  # also reaches EOF, where zipfile checks the CRC
        raise ChunkFormatError(field, "corrupt .npy member: trailing data")
    array = np.frombuffer(buffer, dtype=dtype, count=count)
    if fortran_order:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def _read_safetensors(path: Path, max_decoded_bytes: int | None) -> dict[str, np.ndarray]:
    try:
        with safe_open(str(path), framework="numpy") as f:
            names = list(f.keys())
            keys = [_key_of(name, "") for name in names]
            total = 0
            for name in names:
                tensor = f.get_slice(name)
                dtype = tensor.get_dtype()
                if dtype not in SAFETENSORS_NUMPY_DTYPES:
                    raise ChunkFormatError(f"file.{name}", f"dtype {dtype} has no numpy equivalent")
                itemsize = np.dtype(SAFETENSORS_NUMPY_DTYPES[dtype]).itemsize
                total += math.prod(tensor.get_shape()) * itemsize
            _check_budget(total, max_decoded_bytes)
            arrays = {}
            for key, name in zip(keys, names, strict=True):
                array = f.get_tensor(name)
                arrays[key] = array if array.flags.writeable else array.copy()
            return arrays
    except ChunkFormatError:
        raise
    except Exception as exc:  # the safetensors parser's errors: a corrupt file (422)
        raise ChunkFormatError("file", f"corrupt .safetensors file ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
