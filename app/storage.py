"""Object storage through fsspec: a local folder by default, ``s3://bucket/prefix`` for
S3-compatible stores (MinIO, AWS S3, moto in tests).

Keys are ``/``-separated paths relative to the store's root. Writes of one object are
atomic: a local write goes to a temporary name and is renamed; an S3 PUT is atomic.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import fsspec

from app.config import Settings, get_settings

COPY_BLOCK = 1024 * 1024


class ObjectStore:
    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.root = root.rstrip("/")
        self.is_local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )
        if self.is_local:
            self.fs.makedirs(self.root, exist_ok=True)

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put_file(self, local_path: str | os.PathLike[str], key: str) -> None:
        target = self.path(key)
        if self.is_local:
            self.fs.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = f"{target}.tmp-{uuid.uuid4().hex}"
            self.fs.put_file(os.fspath(local_path), tmp)
            os.replace(tmp, target)
        else:
            self.fs.put_file(os.fspath(local_path), target)

    def put_bytes(self, data: bytes, key: str) -> None:
        target = self.path(key)
        if self.is_local:
            self.fs.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = f"{target}.tmp-{uuid.uuid4().hex}"
            self.fs.pipe_file(tmp, data)
            os.replace(tmp, target)
        else:
            self.fs.pipe_file(target, data)

    def get_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self.path(key))

    def get_file(self, key: str, local_path: str | os.PathLike[str]) -> None:
        self.fs.get_file(self.path(key), os.fspath(local_path))

    def open(self, key: str) -> IO[bytes]:
        return self.fs.open(self.path(key), "rb")

    def iter_bytes(self, key: str, block: int = COPY_BLOCK) -> Iterator[bytes]:
        with self.open(key) as f:
            while data := f.read(block):
                yield data

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def size(self, key: str) -> int:
        return int(self.fs.size(self.path(key)))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(key))

    def delete_prefix(self, prefix: str) -> None:
        path = self.path(prefix)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def list(self, prefix: str) -> list[str]:
        path = self.path(prefix)
        if not self.fs.exists(path):
            return []
        base = len(self.root) + 1
        return sorted(p[base:] if p.startswith(self.root) else p for p in self.fs.find(path))


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while data := f.read(COPY_BLOCK):
            digest.update(data)
    return digest.hexdigest()


def store_from_settings(settings: Settings) -> ObjectStore:
    options: dict[str, Any] = {}
    if settings.storage_url.startswith("s3://"):
        if settings.s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": settings.s3_endpoint_url}
        if settings.s3_key:
            options["key"] = settings.s3_key
        if settings.s3_secret:
            options["secret"] = settings.s3_secret
        # Never serve a stale listing/size from s3fs's cache to another process's write.
        options["use_listings_cache"] = False
    return ObjectStore(settings.storage_url, options)


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
