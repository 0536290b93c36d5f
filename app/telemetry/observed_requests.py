"""The shape both request observers share (the access log, the Prometheus counters): a
pure ASGI middleware, so event streams pass through as they are, that learns each
answer's status and duration, also of a request that raises (the 500 the outer error
handler sends)."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ObservedRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def during(self, scope: Scope) -> AbstractContextManager[object]:
        """Entered while the request runs."""
        return nullcontext()

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        raise NotImplementedError

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
        with self.during(scope):
            try:
                await self.app(scope, receive, send_and_note)
            finally:
                self.observe(scope, status, time.perf_counter() - started)
