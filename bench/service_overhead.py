"""Where the time of one job goes: the updater's ``fit`` against everything around it.

Registers a model and posts chunks through the real API code (FastAPI TestClient on the
embedded defaults: SQLite, a local folder), then runs the jobs with the real job runner
in this process (no Celery: the broker's latency is not what is measured) and prints, per
job, the phases the runner records in the job's metrics: load (base version, state,
chunk), fit, eval (every eval split so far), write (safetensors, pt2 export, state) and
the share of the whole that is ``fit``.

    python bench/service_overhead.py --samples 20000 --epochs 1 --chunks 3
"""

from __future__ import annotations

import argparse
import io
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_to_head
from worker.devices import resolve_device
from worker.job_runner import JobRunner


def npz(x: np.ndarray, y: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y, x_eval=x_eval, y_eval=y_eval)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=3)
    parser.add_argument("--updater", default="er")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), device=args.device)
        assert settings.database_url is not None
        upgrade_to_head(settings.database_url)
        app = create_app(settings)
        with TestClient(app) as client:
            model = client.post(
                "/v1/models",
                json={
                    "name": "bench",
                    "architecture": {
                        "name": "mlp",
                        "params": {"input_dim": 40, "hidden": [256, 256], "num_classes": 10},
                    },
                    "updater": {"name": args.updater, "params": {}},
                    "training": {"epochs": args.epochs, "batch_size": 32, "lr": 0.05},
                },
            ).json()
            jobs = []
            for k in range(args.chunks):
                classes = rng.integers(2 * k % 10, 2 * k % 10 + 2, size=args.samples)
                x = rng.normal(size=(args.samples, 40)).astype(np.float32)
                body = npz(x, classes, x[: args.samples // 5], classes[: args.samples // 5])
                response = client.post(
                    f"/v1/models/{model['id']}/chunks", files={"file": ("c.npz", body)}
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
                f"# one job's phases, {datetime.now(UTC):%Y-%m-%d}, "
                f"{platform.machine()}, device={device}, torch {torch.__version__}, "
                f"updater {args.updater}, {args.samples} samples x {args.epochs} epoch(s), "
                f"MLP 40-256-256-10; {args.chunks} jobs in {wall:.2f} s"
            )
            print("| job | load (s) | fit (s) | eval (s) | write (s) | fit share |")
            print("|---|---|---|---|---|---|")
            for n, job_id in enumerate(jobs, start=1):
                t = client.get(f"/v1/jobs/{job_id}").json()["metrics"]["timings"]
                total = sum(t.values())
                print(
                    f"| {n} | {t['load_s']:.3f} | {t['fit_s']:.3f} | {t['eval_s']:.3f} | "
                    f"{t['write_s']:.3f} | {t['fit_s'] / total:.0%} |"
                )


if __name__ == "__main__":
    main()
