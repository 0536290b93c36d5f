"""This worker's row in the ``workers`` table: what it can build, and a heartbeat.

At start the worker announces the architectures it can build (``Params`` JSON schema of
each ``relearn.architectures`` entry point); every ``HEARTBEAT_SECONDS`` it refreshes
``last_seen``. The API lists the entry-point architectures of recently seen workers and
accepts models built on them; ``last_seen`` also tells who is alive.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import asdict
from datetime import timedelta
from functools import lru_cache
from typing import Any

from worker.architectures import installed
from worker.job_store import JobStore

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
FORGET_AFTER = timedelta(days=7)


@lru_cache
def worker_id() -> str:
    """This process's id: host, pid and a random tail (also its lease owner name)."""
    tail = f":{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return socket.gethostname()[: 64 - len(tail)] + tail


def announcement() -> list[dict[str, Any]]:
    return [asdict(architecture) for architecture in installed()]


class Heartbeat:
    """A daemon thread that records this worker every ``interval`` seconds."""

    def __init__(self, jobs: JobStore, interval: float = HEARTBEAT_SECONDS) -> None:
        self.jobs = jobs
        self.interval = interval
        self.architectures = announcement()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relearn-heartbeat", daemon=True)

    def beat(self) -> None:
        self.jobs.record_worker(
            worker_id=worker_id(), hostname=socket.gethostname(), architectures=self.architectures
        )

    def start(self) -> None:
        try:
            self.jobs.forget_workers(unseen_for=FORGET_AFTER)
        except Exception:
            log.exception("could not delete the rows of long-gone workers")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception:  # a passing DB fault: beat again next round
                log.exception("heartbeat failed")
            if self._stop.wait(self.interval):
                return
