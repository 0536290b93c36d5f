"""Request bodies the API will not read: a size cap on the ones FastAPI reads whole (JSON),
and the connection closed after any answer sent before its request's body was read.

The cap keeps any client from making the API buffer an arbitrarily large body. Chunk
uploads are exempt: their route streams the body to disk and enforces ``max_chunk_bytes``
itself. A declared ``Content-Length`` over the cap is refused before the body is read; a
body without one is counted as it arrives, and the ``HTTPException(413)`` raised on the
way is re-raised by FastAPI's body reader and rendered as a problem by ``problems.py``.

An answer sent while the body is still arriving (a 413 mid-upload, a 404 for an unknown
model, a 422 for a bad header) carries ``Connection: close``: the server then closes the
connection after the answer instead of reading, and discarding, the rest of the body,
which could be gigabytes.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_BODY_BYTES = 1024 * 1024
STREAMED_UPLOAD_PATH = re.compile(r"^/v1/models(/[^/]+/chunks)?/?$")
DECIMAL = re.compile(rb"[0-9]{1,18}")
CLOSE = (b"connection", b"close")


class JsonBodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_JSON_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        capped = not STREAMED_UPLOAD_PATH.match(scope["path"])
        too_large = f"the request body is larger than {self.max_bytes} bytes"
        headers = dict(scope["headers"])
        raw = headers.get(b"content-length", b"")
        declared = DECIMAL.fullmatch(raw) is not None
        received = int(raw) if declared else 0
        body_ended = (declared and received == 0) or (
            not declared and b"transfer-encoding" not in headers
        )

        async def guarded_receive() -> Message:
            nonlocal received, body_ended
            if capped and received > self.max_bytes:
                raise HTTPException(413, detail=too_large)
            message = await receive()
            if message["type"] == "http.request":
                body_ended = body_ended or not message.get("more_body", False)
                if capped and not declared:
                    received += len(message.get("body", b""))
                    if received > self.max_bytes:
                        raise HTTPException(413, detail=too_large)
            elif message["type"] == "http.disconnect":
                body_ended = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_ended:
                sent = list(message.get("headers", []))
                if all(name.lower() != CLOSE[0] for name, _ in sent):
                    message = {**message, "headers": [*sent, CLOSE]}
            await send(message)

        await self.app(scope, guarded_receive, closing_send)
