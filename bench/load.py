"""The API under concurrent load on loopback: latency per route and the API's memory.

Starts ``relearn serve`` (the embedded defaults: SQLite, a local folder, kombu's
filesystem broker, one worker; or, with ``--env``, the services named there, e.g.
PostgreSQL, Redis and an S3 endpoint) on a free port, registers ``--models`` small MLP
models and waits for their version 0, then runs ``--uploads`` chunk uploads and
``--reads`` reads (a model, its version list, its latest artifact, its job list) from
``--concurrency`` client threads at once, all interleaved. Prints p50 / p99 per route,
the answers' status codes, the API process's resident memory before the load and its
peak (``VmHWM``), and how long the worker took to apply every upload.

    python bench/load.py --models 10 --uploads 200 --reads 800 --concurrency 16
    python bench/load.py --env RELEARN_DATABASE_URL=postgresql+psycopg://... \\
        --env RELEARN_BROKER_URL=redis://127.0.0.1:6379/3 ...

The client threads share the machine with the API and the worker: on 2 cores the
figures are those of a busy machine, not of the API alone.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

FINAL = {"succeeded", "failed", "cancelled"}
MODEL = {
    "architecture": {
        "name": "mlp",
        "params": {"input_dim": 16, "hidden": [32], "num_classes": 4},
    },
    "updater": {"name": "er", "params": {"memory_size": 100}},
    "training": {"epochs": 1, "batch_size": 32, "lr": 0.05, "seed": 0},
}


def chunk_npz(rng: np.random.Generator, rows: int) -> bytes:
    y = rng.integers(0, 4, size=rows)
    x = (rng.normal(size=(rows, 16)) + y[:, None]).astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y, x_eval=x[: rows // 4], y_eval=y[: rows // 4])
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int, field_name: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (the peak so far) of a process, in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise KeyError(field_name)


@contextmanager
def served(home: Path, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``relearn serve`` on a free port: its URL and the API process's pid."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("RELEARN_")}
    full |= {"RELEARN_HOME": str(home), "RELEARN_PORT": str(port), "OMP_NUM_THREADS": "1"}
    full |= {"RELEARN_DEVICE": "cpu", "RELEARN_LOG_LEVEL": "WARNING"} | env
    relearn = str(Path(sys.executable).parent / "relearn")
    if "RELEARN_DATABASE_URL" in env:
        subprocess.run([relearn, "db", "upgrade"], env=full, check=True, capture_output=True)
    log = (home.parent / "serve.log").open("wb")
    process = subprocess.Popen(
        [relearn, "serve"], env=full, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"relearn serve did not start; see {log.name}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@dataclass
class Recorder:
    """Latency (seconds) and status codes per route template, from every thread."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, route: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        started = time.perf_counter()
        response = call()
        took = time.perf_counter() - started
        with self.lock:
            self.latency[route].append(took)
            self.statuses[route][response.status_code] += 1
        return response

    def summary(self) -> dict[str, dict[str, Any]]:
        out = {}
        for route, values in sorted(self.latency.items()):
            ordered = sorted(values)
            out[route] = {
                "count": len(ordered),
                "p50_ms": 1000 * statistics.median(ordered),
                "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
                "statuses": {str(k): v for k, v in sorted(self.statuses[route].items())},
            }
        return out


def ready(client: httpx.Client, ids: list[str], timeout: float = 300) -> None:
    """Wait until every model has its version 0, so that artifact reads find one."""
    deadline = time.monotonic() + timeout
    for model_id in ids:
        while client.get(f"/v1/models/{model_id}").json()["status"] != "ready":
            if time.monotonic() > deadline:
                raise TimeoutError(f"model {model_id} has no version 0")
            time.sleep(0.2)


def run_load(url: str, args: argparse.Namespace, recorder: Recorder) -> list[str]:
    """Every upload and read, interleaved at random, from the client threads; job ids."""
    rng = np.random.default_rng(0)
    with httpx.Client(base_url=url, timeout=120) as client:
        ids = [
            client.post("/v1/models", json={"name": f"load-{i}", **MODEL}).json()["id"]
            for i in range(args.models)
        ]
        ready(client, ids)
    bodies = [chunk_npz(rng, args.rows) for _ in range(min(args.uploads, 16))]
    tasks = ["upload"] * args.uploads + ["read"] * args.reads
    random.Random(0).shuffle(tasks)
    jobs: list[str] = []
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=120)
        return local.client

    def one(i: int, task: str) -> None:
        model_id = ids[i % len(ids)]
        c = client()
        if task == "upload":
            files = {"file": ("chunk.npz", bodies[i % len(bodies)])}
            route = "POST /v1/models/{id}/chunks"
            answer = recorder.timed(
                route, lambda: c.post(f"/v1/models/{model_id}/chunks", files=files)
            )
            if answer.status_code == 202:
                with recorder.lock:
                    jobs.append(answer.json()["job_id"])
            return
        kind = i % 4
        if kind == 0:
            recorder.timed("GET /v1/models/{id}", lambda: c.get(f"/v1/models/{model_id}"))
        elif kind == 1:
            recorder.timed(
                "GET /v1/models/{id}/versions", lambda: c.get(f"/v1/models/{model_id}/versions")
            )
        elif kind == 2:
            recorder.timed(
                "GET /v1/models/{id}/versions/latest/artifact",
                lambda: c.get(f"/v1/models/{model_id}/versions/latest/artifact"),
            )
        else:
            recorder.timed("GET /v1/models/{id}/jobs", lambda: c.get(f"/v1/models/{model_id}/jobs"))

    with ThreadPoolExecutor(args.concurrency) as pool:
        for future in [pool.submit(one, i, task) for i, task in enumerate(tasks)]:
            future.result()
    return jobs


def drain(url: str, jobs: list[str], timeout: float) -> dict[str, int]:
    """Job statuses once all are final (or at the timeout)."""
    deadline = time.monotonic() + timeout
    final: dict[str, str] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        while len(final) < len(jobs) and time.monotonic() < deadline:
            for job_id in jobs:
                if job_id not in final:
                    status = client.get(f"/v1/jobs/{job_id}").json()["status"]
                    if status in FINAL:
                        final[job_id] = status
            time.sleep(0.5)
    counts = Counter(final.values())
    counts["not final"] = len(jobs) - len(final)
    return dict(counts)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    env = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="relearn-load-") as tmp:
        home = Path(tmp) / "home"
        with served(home, env) as (url, pid):
            rss_before = rss_kib(pid, "VmRSS")
            recorder = Recorder()
            started = time.perf_counter()
            jobs = run_load(url, args, recorder)
            load_s = time.perf_counter() - started
            peak = rss_kib(pid, "VmHWM")
            jobs_status = drain(url, jobs, args.drain_timeout)
            drained_s = time.perf_counter() - started
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "setup": "embedded" if not env else ", ".join(sorted(env)),
        "config": {
            k: getattr(args, k) for k in ("models", "uploads", "reads", "concurrency", "rows")
        },
        "routes": recorder.summary(),
        "api_rss_mib": {"before": rss_before / 1024, "peak": peak / 1024},
        "load_s": load_s,
        "all_applied_s": drained_s,
        "jobs": jobs_status,
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['date']} · {result['machine']} · {result['setup']} · {result['config']}")
    print("| route | requests | p50 ms | p99 ms | statuses |\n|---|---:|---:|---:|---|")
    for route, row in result["routes"].items():
        statuses = ", ".join(f"{k}×{v}" for k, v in row["statuses"].items())
        p50, p99 = row["p50_ms"], row["p99_ms"]
        print(f"| `{route}` | {row['count']} | {p50:.0f} | {p99:.0f} | {statuses} |")
    rss = result["api_rss_mib"]
    print(f"API RSS: {rss['before']:.0f} MiB before, {rss['peak']:.0f} MiB peak")
    applied = result["all_applied_s"]
    print(f"load {result['load_s']:.1f} s; all applied after {applied:.1f} s; {result['jobs']}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--reads", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rows", type=int, default=256, help="rows per uploaded chunk")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--env", action="append", default=[], metavar="RELEARN_X=value")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = measure(args)
    print_table(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
