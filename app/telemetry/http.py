"""HTTP requests counted by route template and status, in each API process.

Module-level metrics, registered in no registry: ``exposition.py`` serves them from this
process, or from every process's files in multiprocess mode (one metric object per name
per process, as that mode needs). Routes are labelled by template
(``/v1/jobs/{job_id}``), a static mount by its prefix, anything else ``unmatched``, so
that the label's values stay few whatever paths clients try.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "relearn_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=None,
)
HTTP_SECONDS = Histogram(
    "relearn_http_request_duration_seconds",
    "Time to answer HTTP requests, by method and route template (an event stream counts "
    "until it closes).",
    ["method", "route"],
    registry=None,
)
UNMATCHED = "unmatched"


def route_label(scope: Scope) -> str:
    route: Any = scope.get("route")
    if route is not None and hasattr(route, "path_format"):
        return str(route.path_format)
    if "app_root_path" in scope:  # a Mount (the docs' static assets) matched
        return f"{scope.get('root_path', '')}/{{path}}"
    return UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware (no ``BaseHTTPMiddleware``: event streams pass through as
    they are). A request that raises counts as the 500 the outer error handler sends."""

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
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            method, route = scope["method"], route_label(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)
