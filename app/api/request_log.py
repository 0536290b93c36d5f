"""One log line per HTTP request: method, route template, status and duration (the API's
access log, structured; uvicorn's own access log is off)."""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import bound
from app.telemetry.http import route_label

log = structlog.get_logger("relearn.http")


class RequestLog:
    """Pure ASGI middleware, so event streams pass through as they are (their line is
    written when they close). Lines logged while a request runs carry its method and path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        with bound(method=scope["method"], path=scope["path"]):
            try:
                await self.app(scope, receive, send_and_note)
            finally:
                log.info(
                    "request",
                    route=route_label(scope),
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
