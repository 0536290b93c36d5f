"""One log line per HTTP request: method, route template, status and duration (the API's
access log, structured; uvicorn's own access log is off)."""

from __future__ import annotations

from contextlib import AbstractContextManager

import structlog
from starlette.types import Scope

from app.logs import bound
from app.telemetry.http import route_label
from app.telemetry.observed_requests import ObservedRequests

log = structlog.get_logger("relearn.http")


class RequestLog(ObservedRequests):
    """Lines logged while a request runs carry its method and path; an event stream's
    line is written when it closes."""

    def during(self, scope: Scope) -> AbstractContextManager[object]:
        return bound(method=scope["method"], path=scope["path"])

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        log.info(
            "request", route=route_label(scope), status=status, duration_ms=round(seconds * 1000, 1)
        )
