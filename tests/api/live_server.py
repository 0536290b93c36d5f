"""The API as users run it: uvicorn in a process of its own, on a free loopback port.

For what an in-process ``TestClient`` cannot show: the server's own memory, and what it
does with the connection (closing it, reading a body or not).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.config import Settings
from app.db.migrate import upgrade_to_head
from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class LiveApi:
    url: str
    process: subprocess.Popen[bytes]
    port: int

    def status_kib(self, field: str) -> int:
        """A ``/proc/<pid>/status`` figure in KiB (VmRSS, VmHWM: peak resident memory)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used (``/proc/<pid>/stat``)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_peak_memory(self) -> None:
        """VmHWM starts again from the current resident size (Linux ``clear_refs``)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")


@contextmanager
def live_api(home: Path, **settings: str) -> Iterator[LiveApi]:
    """uvicorn serving ``create_app`` on embedded defaults under ``home``, with
    ``RELEARN_<NAME>`` set from ``settings``; stopped afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEARN_")}
    env |= {"RELEARN_HOME": str(home)} | {f"RELEARN_{k.upper()}": v for k, v in settings.items()}
    upgrade_to_head(Settings(home=home).database_url)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "app.api.main:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, process)
        yield LiveApi(url=url, process=process, port=port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the API at {url} did not start within {timeout} s")
