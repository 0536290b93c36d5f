"""Receiving a multipart chunk upload as a stream, straight into a temporary file.

Starlette's form parser would first spool the whole upload and only then let us look at
its size. Here the body is parsed while it arrives (``python-multipart``'s streaming
parser): the ``file`` part goes to a file on disk, hashed and counted on the way, and the
request is refused with 413 as soon as it passes the limit — the rest is never read.
Small text fields (``updater``) are kept in memory, capped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.errors import (
    BadRequest,
    InvalidInput,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from app.services.chunks import ReceivedFile

FILE_FIELD = "file"
DECIMAL = re.compile(r"[0-9]{1,18}")
MAX_TEXT_FIELD_BYTES = 64 * 1024
MAX_PARTS = 16
# Part headers, boundaries and text fields on top of the file itself.
MAX_FORM_OVERHEAD_BYTES = 1024 * 1024


@dataclass
class MultipartUpload:
    file: ReceivedFile | None
    fields: dict[str, str]


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    text: bytearray = field(default_factory=bytearray)


class _UploadReceiver:
    """``python-multipart`` callbacks: route part data to the file or to a text field."""

    def __init__(self, folder: Path, allowed_fields: set[str], max_file_bytes: int) -> None:
        self.folder = folder
        self.allowed_fields = allowed_fields
        self.max_file_bytes = max_file_bytes
        self.part = _Part()
        self.parts = 0
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.disposition = b""
        self.fields: dict[str, str] = {}
        self.file_handle: IO[bytes] | None = None
        self.file_path = folder / "upload"
        self.file_name: str | None = None
        self.file_size = 0
        self.digest = hashlib.sha256()
        self.pending: list[bytes] = []  # file data to write off the event loop
        self.ended = False

    # -- parser callbacks -------------------------------------------------------------

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequest(f"too many form parts (at most {MAX_PARTS})")
        self.part = _Part()
        self.disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_name).lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise BadRequest('a form part has no Content-Disposition "name"')
        name = _decode(options[b"name"], "form field name")
        if name != FILE_FIELD and name not in self.allowed_fields:
            allowed = ", ".join(sorted({FILE_FIELD, *self.allowed_fields}))
            raise InvalidInput(f"{name}: unknown form field; allowed: {allowed}", field=name)
        if name == FILE_FIELD:
            if self.file_handle is not None:
                raise InvalidInput("file: send exactly one file", field=FILE_FIELD)
            self.file_handle = self.file_path.open("wb")
            if b"filename" in options:
                self.file_name = _decode(options[b"filename"], "file name")
        elif name in self.fields:
            raise InvalidInput(f"{name}: given twice", field=name)
        self.part.name = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.name == FILE_FIELD:
            self.file_size += end - start
            if self.file_size > self.max_file_bytes:
                raise PayloadTooLarge(
                    f"file: larger than the limit of {self.max_file_bytes} bytes",
                    field=FILE_FIELD,
                )
            self.pending.append(data[start:end])
        else:
            self.part.text += data[start:end]
            if len(self.part.text) > MAX_TEXT_FIELD_BYTES:
                raise PayloadTooLarge(
                    f"{self.part.name}: longer than {MAX_TEXT_FIELD_BYTES} bytes",
                    field=str(self.part.name),
                )

    def on_part_end(self) -> None:
        if self.part.name is not None and self.part.name != FILE_FIELD:
            self.fields[self.part.name] = _decode(bytes(self.part.text), self.part.name)

    def on_end(self) -> None:
        self.ended = True

    # -- file writes, in a worker thread --------------------------------------------

    def flush(self) -> None:
        assert self.file_handle is not None
        for data in self.pending:
            self.digest.update(data)
            self.file_handle.write(data)
        self.pending.clear()

    def close(self) -> None:
        if self.file_handle is not None:
            self.file_handle.close()


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not valid UTF-8") from None


async def receive_multipart(
    request: Request, *, folder: Path, allowed_fields: set[str], max_file_bytes: int
) -> MultipartUpload:
    """Stream a ``multipart/form-data`` body into ``folder``; 413 past ``max_file_bytes``."""
    content_type = request.headers.get("content-type", "")
    media_type, params = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise UnsupportedMediaType(
            f"send the chunk as multipart/form-data (a 'file' part), not {content_type!r}"
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary")
    max_body = max_file_bytes + MAX_FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if DECIMAL.fullmatch(declared) and int(declared) > max_body:
        raise PayloadTooLarge(
            f"file: the body ({declared} bytes) is larger than the limit of {max_file_bytes} bytes",
            field=FILE_FIELD,
        )

    receiver = _UploadReceiver(folder, allowed_fields, max_file_bytes)
    callbacks = {
        "on_part_begin": receiver.on_part_begin,
        "on_part_data": receiver.on_part_data,
        "on_part_end": receiver.on_part_end,
        "on_header_field": receiver.on_header_field,
        "on_header_value": receiver.on_header_value,
        "on_header_end": receiver.on_header_end,
        "on_headers_finished": receiver.on_headers_finished,
        "on_end": receiver.on_end,
    }
    received = 0
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        async for data in request.stream():
            received += len(data)
            if received > max_body:
                raise PayloadTooLarge(
                    f"file: the body is larger than the limit of {max_file_bytes} bytes",
                    field=FILE_FIELD,
                )
            parser.write(data)
            if receiver.pending:
                await anyio.to_thread.run_sync(receiver.flush)
        parser.finalize()
    except FormParserError as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from None
    except OSError as exc:  # the upload folder's disk is full or failing: not the client's fault
        raise ServiceUnavailable(f"the server cannot hold the upload now ({exc.strerror})") from exc
    except ClientDisconnect:
        raise BadRequest("the client disconnected before the upload was complete") from None
    finally:
        receiver.close()
    if not receiver.ended:
        raise BadRequest("malformed multipart body: it ends before its closing boundary")
    file = None
    if receiver.file_handle is not None:
        file = ReceivedFile(
            path=receiver.file_path,
            filename=receiver.file_name,
            size=receiver.file_size,
            sha256=receiver.digest.hexdigest(),
        )
    return MultipartUpload(file=file, fields=receiver.fields)
