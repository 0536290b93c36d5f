"""The registry ``GET /metrics`` renders: this process's HTTP counters, or every API
process's in multiprocess mode, plus the database figures.

Multiprocess mode: with several API processes on a machine (``uvicorn --workers N``,
gunicorn), set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder, wiped before they start,
in the environment of all of them. Each process then writes its counters there and any
of them answers ``/metrics`` with the sum (prometheus_client's multiprocess mode; the
variable must be set before the processes start, as prometheus_client reads it at import).
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.orm import Session, sessionmaker

from app.telemetry.database import DatabaseCollector
from app.telemetry.http import HTTP_REQUESTS, HTTP_SECONDS

MEDIA_TYPE = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    """The folder prometheus_client's multiprocess mode uses, if it is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Telemetry:
    """One app's ``/metrics``: built once per app, rendered at each scrape."""

    def __init__(self, sessions: sessionmaker[Session], shared_dir: str | None) -> None:
        self.registry = CollectorRegistry()
        if shared_dir is not None:
            MultiProcessCollector(self.registry, path=shared_dir)
        else:
            self.registry.register(HTTP_REQUESTS)
            self.registry.register(HTTP_SECONDS)
        self.registry.register(DatabaseCollector(sessions))

    def render(self) -> bytes:
        return generate_latest(self.registry)
