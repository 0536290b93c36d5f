"""Downloading an artifact into a file, verified, and loading one into torch.

The bytes go to a temporary file beside the destination that is renamed into place only
once complete and its sha256 matches both the ``ETag`` and the version's recorded digest:
an interrupted or corrupt download never leaves a half-written file under the asked name.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relearn.errors import ChecksumMismatch
from relearn.transport import Transport

BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Downloaded:
    size: int
    sha256: str


def etag_digest(etag: str | None) -> str | None:
    """``"abc…"`` or ``W/"abc…"`` → ``abc…`` (the API's ETag is the content's sha256)."""
    if not etag:
        return None
    return etag.removeprefix("W/").strip('"')


def download(
    transport: Transport,
    path: str,
    destination: Path,
    *,
    params: dict[str, Any] | None = None,
    expected_sha256: str | None = None,
) -> Downloaded:
    """Stream ``path`` into ``destination``, checking its sha256 (see the module's doc)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        digest = hashlib.sha256()
        size = 0
        with part.open("xb") as out, transport.stream("GET", path, params=params) as response:
            etag = etag_digest(response.headers.get("etag"))
            for block in response.iter_bytes(BLOCK):
                digest.update(block)
                size += len(block)
                out.write(block)
        sha256 = digest.hexdigest()
        for source, expected in (("ETag", etag), ("version record", expected_sha256)):
            if expected is not None and expected != sha256:
                raise ChecksumMismatch(
                    f"downloaded {size} bytes with sha256 {sha256}, "
                    f"but the server's {source} says {expected}"
                )
        part.replace(destination)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return Downloaded(size=size, sha256=sha256)
