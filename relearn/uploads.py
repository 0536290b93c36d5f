"""Files to upload: a chunk (a path, or numpy arrays written as ``.npz``) and pretrained
weights (a path, or tensors written as safetensors).

Arrays are written once, into memory when small and into a temporary file otherwise, and
each upload attempt reads them afresh (a retried push sends the same bytes). Nothing is
pickled: arrays of Python objects are refused here, before anything is sent.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

# Above this many array bytes the .npz goes to a temporary file instead of memory.
IN_MEMORY_BYTES = 32 * 1024 * 1024
OCTET_STREAM = "application/octet-stream"

PathLike = str | os.PathLike[str]
Arrays = Mapping[str, Any]


class UploadFile:
    """One file part of a multipart request, readable once per attempt."""

    def __init__(self, name: str, *, path: Path | None = None, data: bytes | None = None):
        self.name = name
        self.path = path
        self.data = data
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def of_chunk(cls, data: PathLike | Arrays) -> UploadFile:
        """A chunk file as given, or ``x``, ``y`` (``x_eval``, ``y_eval``) saved as .npz."""
        if isinstance(data, str | os.PathLike):
            return cls(Path(data).name, path=Path(data))
        arrays = {key: _plain_array(key, value) for key, value in data.items()}
        upload = cls("chunk.npz")
        if sum(a.nbytes for a in arrays.values()) <= IN_MEMORY_BYTES:
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)  # type: ignore[arg-type]
            upload.data = buffer.getvalue()
        else:
            upload._folder = tempfile.TemporaryDirectory(prefix="relearn-chunk-")
            upload.path = Path(upload._folder.name) / upload.name
            np.savez(upload.path, **arrays)  # type: ignore[arg-type]
        return upload

    @classmethod
    def of_weights(cls, weights: PathLike | Arrays) -> UploadFile:
        """A safetensors file as given, or a state_dict (numpy arrays or torch tensors)."""
        if isinstance(weights, str | os.PathLike):
            return cls(Path(weights).name, path=Path(weights))
        if any(hasattr(value, "detach") for value in weights.values()):
            from safetensors.torch import save as save_torch  # torch only if given tensors

            return cls("weights.safetensors", data=save_torch(dict(weights)))
        from safetensors.numpy import save as save_numpy

        tensors = {k: np.ascontiguousarray(_plain_array(k, v)) for k, v in weights.items()}
        return cls("weights.safetensors", data=save_numpy(tensors))

    def open(self) -> AbstractContextManager[IO[bytes]]:
        return self._open()

    @contextmanager
    def _open(self) -> Iterator[IO[bytes]]:
        if self.data is not None:
            yield io.BytesIO(self.data)
            return
        assert self.path is not None
        with self.path.open("rb") as handle:
            yield handle

    def part(self, handle: IO[bytes]) -> tuple[str, IO[bytes], str]:
        return (self.name, handle, OCTET_STREAM)

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> UploadFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _plain_array(key: str, value: Any) -> np.ndarray[Any, Any]:
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise ValueError(f"{key}: arrays of Python objects cannot be sent (they would be pickled)")
    return array
