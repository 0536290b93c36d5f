"""A running relearn as the end-to-end tests see it: its URL, its processes, its jobs."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.processes import BIN, Processes, wait_http
from tests.services import free_port

FINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Service:
    url: str
    processes: Processes

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def wait_job(self, job_id: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while time.monotonic() < deadline:
                job = client.get(f"/v1/jobs/{job_id}").json()
                if job["status"] in FINAL:
                    return job
                time.sleep(0.2)
        raise TimeoutError(f"job {job_id} not final: {job}\n{self.processes.logs()}")


@contextmanager
def embedded_serve(folder: Path, timeout: float = 120) -> Iterator[Service]:
    """``relearn serve`` as a newcomer runs it: the API and one worker on the embedded
    defaults, RELEARN_HOME ``folder/home``, on a free port; stopped on exit."""
    port = free_port()
    processes = Processes(folder, base_env(folder / "home") | {"RELEARN_PORT": str(port)})
    server = processes.start("serve", str(BIN / "relearn"), "serve")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", server, timeout=timeout)
        yield Service(url, processes)
    finally:
        processes.stop_all()


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEARN_")}
    env.update(
        RELEARN_HOME=str(home),
        RELEARN_DEVICE="cpu",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
        RELEARN_LEASE_SECONDS="10",
    )
    return env


def stack_env(
    home: Path, *, database_url: str, broker_url: str, storage_url: str, s3_endpoint: str
) -> dict[str, str]:
    """The environment of a scaled-out relearn on these services, its database migrated."""
    env = base_env(home) | {
        "RELEARN_DATABASE_URL": database_url,
        "RELEARN_BROKER_URL": broker_url,
        "RELEARN_STORAGE_URL": storage_url,
        "RELEARN_S3_ENDPOINT_URL": s3_endpoint,
    }
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        env[key] = os.environ[key]
    subprocess.run(
        [str(BIN / "relearn"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    return env
