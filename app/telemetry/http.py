"""HTTP requests counted by route template and status, in each API process.

Module-level metrics, registered in no registry: ``exposition.py`` serves them from this
process, or from every process's files in multiprocess mode (one metric object per name
per process, as that mode needs). Routes are labelled by template
(``/v1/jobs/{job_id}``), a static mount by its prefix, anything else ``unmatched``, so
that the label's values stay few whatever paths clients try.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import Scope

from app.telemetry.observed_requests import ObservedRequests

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


class RequestMetrics(ObservedRequests):
    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        method, route = scope["method"], route_label(scope)
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_SECONDS.labels(method, route).observe(seconds)
