"""The Celery worker's command line, and the worker as a child of ``relearn serve``.

Always the solo pool with concurrency 1 (``worker/celery_app.py`` says why): one worker
process drives one GPU, and more processes scale out against the same services.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping

CELERY_APP = "worker.celery_app:celery"


def default_hostname() -> str:
    """A node name of its own for each worker (``%h`` is the machine's host name): two
    workers on one machine must not share one, or Celery warns about duplicate nodes."""
    return f"relearn-{uuid.uuid4().hex[:8]}@%h"


def worker_command(*, queue: str, loglevel: str = "INFO", hostname: str | None = None) -> list[str]:
    """``python -m celery -A worker.celery_app:celery worker --pool=solo ...``.

    Gossip and mingle are off: they synchronise worker state for remote control and event
    monitoring, which relearn does not use (job state lives in the database), and they
    cost broker traffic and start-up time on every worker.
    """
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        CELERY_APP,
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "-Q",
        queue,
        f"--loglevel={loglevel.upper()}",
        f"--hostname={hostname or default_hostname()}",
        "--without-gossip",
        "--without-mingle",
    ]


class WorkerProcess:
    """One Celery worker running as a child process, stopped cleanly on request.

    It stays in the parent's process group, so that Ctrl-C or ``kill -- -PGID`` reaches it.
    """

    def __init__(self, command: list[str], env: Mapping[str, str] | None = None) -> None:
        self.command = command
        self.env = dict(env if env is not None else os.environ)
        self.popen: subprocess.Popen[bytes] | None = None
        self.stopping = False

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> None:
        self.popen = subprocess.Popen(self.command, env=self.env, stdin=subprocess.DEVNULL)

    def poll(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def wait(self) -> int:
        assert self.popen is not None
        return self.popen.wait()

    def stop(self, timeout: float) -> int | None:
        """SIGTERM (Celery's warm shutdown: the running job finishes), wait up to
        ``timeout`` seconds, then SIGKILL. A job killed that way is not lost: its message
        was not acknowledged, so the broker delivers it again."""
        self.stopping = True
        if self.popen is None or self.popen.poll() is not None:
            return self.poll()
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()
