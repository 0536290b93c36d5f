"""A size cap on request bodies that FastAPI reads whole (JSON), so that no client can make
the API buffer an arbitrarily large body. Chunk uploads are exempt: their route streams
the body to disk and enforces ``max_chunk_bytes`` itself.

A declared ``Content-Length`` over the cap is refused before the body is read; a body
without one is counted as it arrives, and the ``HTTPException(413)`` raised on the way
is re-raised by FastAPI's body reader and rendered as a problem by ``app/api/problems.py``.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_BODY_BYTES = 1024 * 1024
STREAMED_UPLOAD_PATH = re.compile(r"^/v1/models/[^/]+/chunks/?$")
DECIMAL = re.compile(rb"[0-9]{1,18}")


class JsonBodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_JSON_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or STREAMED_UPLOAD_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        too_large = f"the request body is larger than {self.max_bytes} bytes"
        raw = dict(scope["headers"]).get(b"content-length", b"")
        declared = DECIMAL.fullmatch(raw) is not None
        received = int(raw) if declared else 0

        async def counting_receive() -> Message:
            nonlocal received
            if received > self.max_bytes:
                raise HTTPException(413, detail=too_large)
            message = await receive()
            if message["type"] == "http.request" and not declared:
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, detail=too_large)
            return message

        await self.app(scope, counting_receive, send)
