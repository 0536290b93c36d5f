"""Where the time of one job goes: the updater's ``fit`` against everything around it.

Registers a model and posts chunks through the real API code (FastAPI TestClient on the
embedded defaults: SQLite, a local folder, kombu's filesystem broker). Two modes:

- in-process (default): the jobs run with the real job runner in this process (no
  Celery: the broker's latency is not what is measured); prints, per job, the phases the
  runner records in the job's metrics: load (base version, state, chunk), fit, eval
  (every eval split so far), write (safetensors, state; the pt2 program follows the
  version) and the share of the whole that is ``fit``.
- ``--worker``: a real Celery worker (``relearn worker``'s command line) in a child
  process; each chunk is posted once the previous job succeeded, and the table shows,
  per job, the queue wait (POST → job running, from the job's ``created_at`` and
  ``started_at``), POST → succeeded, ``fit`` and the time outside ``fit``.

    python bench/service_overhead.py --samples 20000 --epochs 1 --chunks 3
    python bench/service_overhead.py --worker --samples 2000 --chunks 8 [--gap 0.5]

``--gap`` leaves the worker time between jobs (to export the last version's ``.pt2``,
which follows publication): without it, each POST lands while that export runs.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.cli.worker_process import WorkerProcess, worker_command
from app.config import Settings
from app.db.migrate import upgrade_to_head
from worker.devices import resolve_device
from worker.job_runner import JobRunner

WAIT_S = 300.0


def npz(x: np.ndarray, y: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y, x_eval=x_eval, y_eval=y_eval)
    return buffer.getvalue()


def chunk_body(rng: np.random.Generator, k: int, samples: int) -> bytes:
    classes = rng.integers(2 * k % 10, 2 * k % 10 + 2, size=samples)
    x = rng.normal(size=(samples, 40)).astype(np.float32)
    return npz(x, classes, x[: samples // 5], classes[: samples // 5])


def register(client: TestClient, args: argparse.Namespace) -> dict[str, Any]:
    response = client.post(
        "/v1/models",
        json={
            "name": "bench",
            "architecture": {
                "name": "mlp",
                "params": {"input_dim": 40, "hidden": [256, 256], "num_classes": 10},
            },
            "updater": {"name": args.updater, "params": {}},
            "training": {
                "epochs": args.epochs,
                "batch_size": 32,
                "lr": 0.05,
                **({"compile": True} if args.compile else {}),
            },
        },
    )
    response.raise_for_status()
    return dict(response.json())


def wait_finished(client: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job = dict(client.get(f"/v1/jobs/{job_id}").json())
        if job["status"] in ("succeeded", "failed", "cancelled"):
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
            return job
        time.sleep(0.005)
    raise TimeoutError(f"job {job_id} did not finish in {WAIT_S} s")


def wait_ready(client: TestClient, model_id: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while client.get(f"/v1/models/{model_id}").json()["status"] != "ready":
        if time.monotonic() > deadline:
            raise TimeoutError(f"model {model_id} not ready in {WAIT_S} s")
        time.sleep(0.01)


def seconds_between(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def header(args: argparse.Namespace, device: str, mode: str) -> str:
    return (
        f"# {mode}, {datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, device={device}, torch {torch.__version__}, updater "
        f"{args.updater}, {args.samples} samples x {args.epochs} epoch(s), MLP 40-256-256-10"
        f"{', training.compile' if args.compile else ''}"
    )


def in_process(args: argparse.Namespace, home: Path) -> None:
    rng = np.random.default_rng(0)
    settings = Settings(home=home, device=args.device)
    upgrade_to_head(settings.database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        model = register(client, args)
        jobs = []
        for k in range(args.chunks):
            response = client.post(
                f"/v1/models/{model['id']}/chunks",
                files={"file": ("c.npz", chunk_body(rng, k, args.samples))},
            )
            jobs.append(response.json()["job_id"])
        device = resolve_device(settings.device)
        runner = JobRunner(
            sessions=app.state.sessions, store=app.state.store, device=device, owner="bench"
        )
        started = time.perf_counter()
        runner.process_model(model["id"])
        wall = time.perf_counter() - started
        print(
            header(args, str(device), "one job's phases") + f"; {args.chunks} jobs in {wall:.2f} s"
        )
        print("| job | load (s) | fit (s) | eval (s) | write (s) | fit share |")
        print("|---|---|---|---|---|---|")
        for n, job_id in enumerate(jobs, start=1):
            t = client.get(f"/v1/jobs/{job_id}").json()["metrics"]["timings"]
            total = sum(v for v in t.values() if v is not None)
            print(
                f"| {n} | {t['load_s']:.3f} | {t['fit_s']:.3f} | {t['eval_s']:.3f} | "
                f"{t['write_s']:.3f} | {t['fit_s'] / total:.0%} |"
            )


def with_worker(args: argparse.Namespace, home: Path) -> None:
    rng = np.random.default_rng(0)
    env = {**os.environ, "RELEARN_HOME": str(home), "RELEARN_DEVICE": args.device}
    env.setdefault("OMP_NUM_THREADS", "1")
    for name in ("RELEARN_DATABASE_URL", "RELEARN_STORAGE_URL", "RELEARN_BROKER_URL"):
        env.pop(name, None)
    settings = Settings(home=home, device=args.device)
    upgrade_to_head(settings.database_url)
    worker = WorkerProcess(worker_command(queue=settings.queue_name, loglevel="WARNING"), env)
    worker.start()
    try:
        app = create_app(settings)
        with TestClient(app) as client:
            model = register(client, args)
            wait_ready(client, model["id"])  # version 0, and the worker's start
            rows = []
            for k in range(args.chunks):
                response = client.post(
                    f"/v1/models/{model['id']}/chunks",
                    files={"file": ("c.npz", chunk_body(rng, k, args.samples))},
                )
                job = wait_finished(client, response.json()["job_id"])
                time.sleep(args.gap)
                wait = seconds_between(job["created_at"], job["started_at"])
                whole = seconds_between(job["created_at"], job["finished_at"])
                fit = job["metrics"]["timings"]["fit_s"]
                rows.append((wait, whole, fit, whole - fit, whole - wait - fit))
    finally:
        worker.stop(timeout=30)
    print(header(args, args.device, "POST -> job through a Celery worker"))
    print(
        "| job | queue wait (s) | POST→succeeded (s) | fit (s) | outside fit (s) | "
        "running, outside fit (s) |"
    )
    print("|---|---|---|---|---|---|")
    for n, row in enumerate(rows, start=1):
        print(f"| {n} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    later = rows[1:] or rows
    medians = [statistics.median(r[i] for r in later) for i in range(5)]
    print(f"| median of jobs 2-{len(rows)} | " + " | ".join(f"{v:.3f}" for v in medians) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=3)
    parser.add_argument("--updater", default="er")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="training.compile: true")
    parser.add_argument("--worker", action="store_true", help="through a Celery worker")
    parser.add_argument(
        "--gap", type=float, default=0.0, help="--worker: seconds between a job and the next POST"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as home:
        (with_worker if args.worker else in_process)(args, Path(home))


if __name__ == "__main__":
    main()
