"""Object storage through fsspec: a local folder by default, ``s3://bucket/prefix`` for
S3-compatible stores (MinIO, AWS S3, moto in tests).

Keys are ``/``-separated paths relative to the store's root. Writes of one object are
atomic: a local write goes to a temporary name and is renamed; an S3 PUT is atomic.

Every S3 request has a connect and a read timeout and a bounded number of attempts, and
an upload has a deadline that grows with its size (settings ``s3_*``), so a store that is
down or hung answers within bounded time. Any failure of the store other than a missing
object is raised as ``StorageUnavailable`` (the API answers it 503 + Retry-After); a
missing object stays ``FileNotFoundError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import fsspec

from app.config import Settings, get_settings

COPY_BLOCK = 1024 * 1024
# S3 uploads go up in parts of this size, a few at a time, and downloads are read ahead by
# this much: s3fs's defaults (50 MiB parts, ten at a time; whole files under 100 MiB read
# into memory) would cost the API hundreds of MiB per transfer.
S3_PART_BYTES = 8 * 1024 * 1024
S3_PARTS_IN_FLIGHT = 2


class StorageUnavailable(OSError):
    """The object store failed or did not answer in time (unlike a missing object)."""


@dataclass(frozen=True)
class PutDeadline:
    """How long one upload may take in all: ``base_seconds`` plus its size at the slowest
    acceptable rate. Timeouts per request cannot see a stalled write (a hung server that
    stops reading), so an upload also has this deadline as a whole."""

    base_seconds: float
    min_bytes_per_second: int

    def seconds(self, size: int) -> float:
        return self.base_seconds + size / self.min_bytes_per_second


class ObjectStore:
    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        put_deadline: PutDeadline | None = None,
    ) -> None:
        self.fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.root = root.rstrip("/")
        self.is_local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )
        # fsspec's async filesystems (s3fs) take ``timeout=`` on their blocking calls.
        self.put_deadline = None if self.is_local else put_deadline
        if self.is_local:
            self.fs.makedirs(self.root, exist_ok=True)

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put_file(self, local_path: str | os.PathLike[str], key: str) -> None:
        target = self.path(key)
        with storage_errors(key):
            if self.is_local:
                self.fs.makedirs(os.path.dirname(target), exist_ok=True)
                tmp = f"{target}.tmp-{uuid.uuid4().hex}"
                self.fs.put_file(os.fspath(local_path), tmp)
                os.replace(tmp, target)
            else:
                size = os.path.getsize(local_path)
                self.fs.put_file(
                    os.fspath(local_path),
                    target,
                    chunksize=S3_PART_BYTES,
                    max_concurrency=S3_PARTS_IN_FLIGHT,
                    **self._deadline(size),
                )

    def put_bytes(self, data: bytes, key: str) -> None:
        target = self.path(key)
        with storage_errors(key):
            if self.is_local:
                self.fs.makedirs(os.path.dirname(target), exist_ok=True)
                tmp = f"{target}.tmp-{uuid.uuid4().hex}"
                self.fs.pipe_file(tmp, data)
                os.replace(tmp, target)
            else:
                self.fs.pipe_file(target, data, **self._deadline(len(data)))

    def get_bytes(self, key: str) -> bytes:
        with storage_errors(key):
            return self.fs.cat_file(self.path(key))

    def get_file(self, key: str, local_path: str | os.PathLike[str]) -> None:
        with storage_errors(key):
            self.fs.get_file(self.path(key), os.fspath(local_path))

    def open(self, key: str) -> IO[bytes]:
        with storage_errors(key):
            return self.fs.open(self.path(key), "rb", block_size=S3_PART_BYTES)

    def iter_bytes(self, key: str, block: int = COPY_BLOCK) -> Iterator[bytes]:
        with self.open(key) as f:
            while True:
                with storage_errors(key):
                    data = f.read(block)
                if not data:
                    return
                yield data

    def exists(self, key: str) -> bool:
        with storage_errors(key):
            return self.fs.exists(self.path(key))

    def size(self, key: str) -> int:
        with storage_errors(key):
            return int(self.fs.size(self.path(key)))

    def delete(self, key: str) -> None:
        with storage_errors(key), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(key))

    def delete_prefix(self, prefix: str) -> None:
        path = self.path(prefix)
        with storage_errors(prefix):
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)

    def list(self, prefix: str) -> list[str]:
        path = self.path(prefix)
        with storage_errors(prefix):
            if not self.fs.exists(path):
                return []
            found = self.fs.find(path)
        base = len(self.root) + 1
        return sorted(p[base:] if p.startswith(self.root) else p for p in found)

    def _deadline(self, size: int) -> dict[str, float]:
        if self.put_deadline is None:
            return {}
        return {"timeout": self.put_deadline.seconds(size)}


@lru_cache
def _store_failures() -> tuple[type[Exception], ...]:
    """What a failing store raises: OS errors (timeouts included), and botocore's and
    aiohttp's own error families where s3fs is in use (imported only then)."""
    failures: list[type[Exception]] = [OSError]
    with contextlib.suppress(ImportError):
        from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]

        failures.append(BotoCoreError)
    with contextlib.suppress(ImportError):
        from aiohttp import ClientError

        failures.append(ClientError)
    return tuple(failures)


@contextlib.contextmanager
def storage_errors(key: str) -> Iterator[None]:
    """Raise a store's failure as ``StorageUnavailable``; ``FileNotFoundError`` passes."""
    try:
        yield
    except (FileNotFoundError, StorageUnavailable):
        raise
    except _store_failures() as exc:
        raise StorageUnavailable(f"object storage failed on {key!r}: {exc!r}") from exc


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while data := f.read(COPY_BLOCK):
            digest.update(data)
    return digest.hexdigest()


def store_from_settings(settings: Settings) -> ObjectStore:
    options: dict[str, Any] = {}
    if not settings.storage_url.startswith("s3://"):
        return ObjectStore(settings.storage_url, options)
    if settings.s3_endpoint_url:
        options["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
    if settings.s3_key:
        options["key"] = settings.s3_key
    if settings.s3_secret:
        options["secret"] = settings.s3_secret
    # Never serve a stale listing/size from s3fs's cache to another process's write.
    options["use_listings_cache"] = False
    options["session"] = _s3_session()
    # botocore retries (with backoff) up to the attempts; s3fs's own retry loop, which
    # would multiply them, makes one pass.
    options["config_kwargs"] = {
        "connect_timeout": settings.s3_connect_timeout_seconds,
        "read_timeout": settings.s3_read_timeout_seconds,
        "retries": {"mode": "standard", "total_max_attempts": settings.s3_max_attempts},
    }
    store = ObjectStore(
        settings.storage_url,
        options,
        put_deadline=PutDeadline(
            settings.s3_put_deadline_seconds, settings.s3_put_min_bytes_per_second
        ),
    )
    store.fs.retries = 1
    return store


def _s3_session() -> Any:
    """An aiobotocore session whose S3 requests never ask for ``Expect: 100-continue``:
    aiohttp waits for the ``100 Continue`` without any timeout, so an upload to a hung
    store would wait until its deadline instead of its read timeout."""
    from aiobotocore.session import AioSession  # type: ignore[import-untyped]

    session = AioSession()
    session.register("request-created.s3", _drop_expect_continue)
    return session


def _drop_expect_continue(request: Any, **_: Any) -> None:
    if "Expect" in request.headers:
        del request.headers["Expect"]


@lru_cache
def get_store() -> ObjectStore:
    return store_from_settings(get_settings())


def chunk_key(model_id: str, chunk_id: str, fmt: str) -> str:
    return f"models/{model_id}/chunks/{chunk_id}.{fmt}"


def eval_split_key(model_id: str, chunk_id: str) -> str:
    """A chunk's eval split alone, written by the worker so that later jobs evaluate on it
    without re-reading the whole chunk."""
    return f"models/{model_id}/eval/{chunk_id}.safetensors"


def version_prefix(model_id: str, number: int, attempt: str) -> str:
    return f"models/{model_id}/versions/{number:06d}-{attempt}"


MODEL_FILE = "model.safetensors"
PT2_FILE = "model.pt2"
STATE_FILE = "state.safetensors"
STATE_META_FILE = "state.json"
