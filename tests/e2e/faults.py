"""What the fault tests share: settings that make recovery quick, a client that records
every answer, uploads retried as a careful client retries them, and the invariants every
fault test asserts once the fault is over:

- every accepted (202) chunk is applied exactly once, in order: version n was made from
  the n-th accepted chunk, by its job, from version n-1, and the final weights equal one
  uninterrupted run of the accepted chunks (any skipped, repeated or reordered update
  would change them);
- every version is complete: each of its objects is there and readable;
- no answer was a 5xx other than 503 + Retry-After (while a dependency was down).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import torch
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import Model, ModelVersion
from app.storage import MODEL_FILE, PT2_FILE, STATE_FILE, STATE_META_FILE, store_from_settings
from tests.e2e.data import ChunkData
from tests.e2e.reference import uninterrupted_run, weights_from_artifact
from tests.e2e.service import FINAL, Service

# Reconcile every second, leases of 3 s, S3 calls given up after 2 tries of 1 + 2 s, and
# an upload to S3 after 3 s plus its size at 1 MiB/s.
FAST_RECOVERY = {
    "RELEARN_RECONCILE_SECONDS": "1",
    "RELEARN_LEASE_SECONDS": "3",
    "RELEARN_S3_CONNECT_TIMEOUT_SECONDS": "1",
    "RELEARN_S3_READ_TIMEOUT_SECONDS": "2",
    "RELEARN_S3_MAX_ATTEMPTS": "2",
    "RELEARN_S3_PUT_DEADLINE_SECONDS": "3",
}


@dataclass
class Answers:
    """Every response the test's clients received (thread-safe)."""

    seen: list[tuple[str, str, int, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, response: httpx.Response) -> None:
        request = response.request
        with self.lock:
            self.seen.append(
                (
                    request.method,
                    request.url.path,
                    response.status_code,
                    response.headers.get("retry-after"),
                )
            )

    def client(self, service: Service, timeout: float = 60) -> httpx.Client:
        return httpx.Client(
            base_url=service.url, timeout=timeout, event_hooks={"response": [self.record]}
        )

    def unavailable(self) -> int:
        return sum(1 for _, _, status, _ in self.seen if status == 503)

    def assert_no_5xx_but_503(self) -> None:
        bad = [a for a in self.seen if a[2] >= 500 and (a[2] != 503 or not _positive(a[3]))]
        assert not bad, f"5xx other than 503 + Retry-After: {bad[:10]}"


def _positive(retry_after: str | None) -> bool:
    return retry_after is not None and retry_after.isdigit() and int(retry_after) > 0


def upload(client: httpx.Client, model_id: str, data: ChunkData, timeout: float = 120) -> dict:
    """POST a chunk until it is accepted: a 503 is retried after a pause, with the same
    Idempotency-Key (so that an upload the server recorded before failing to answer is
    not recorded twice). Anything but 202 or 503 fails the test."""
    key = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = client.post(
                f"/v1/models/{model_id}/chunks",
                files={"file": ("chunk.npz", data.npz())},
                headers={"Idempotency-Key": key},
            )
        except httpx.TimeoutException as exc:  # counts as an answer that never came
            raise AssertionError(f"an upload got no answer in {client.timeout}") from exc
        if response.status_code == 202:
            return dict(response.json())
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, "uploads still refused at the deadline"
        time.sleep(0.5)


def wait_final(
    client: httpx.Client, service: Service, job_ids: list[str], timeout: float = 240
) -> list[dict]:
    """The jobs once all are final; a 503 (a dependency down) is waited out."""
    deadline = time.monotonic() + timeout
    final: dict[str, dict] = {}
    while time.monotonic() < deadline:
        for job_id in job_ids:
            if job_id in final:
                continue
            response = client.get(f"/v1/jobs/{job_id}")
            if response.status_code == 200 and response.json()["status"] in FINAL:
                final[job_id] = response.json()
        if len(final) == len(job_ids):
            return [final[j] for j in job_ids]
        time.sleep(0.3)
    pending = [j for j in job_ids if j not in final]
    raise TimeoutError(f"jobs not final: {pending}\n{service.processes.logs()}")


def wait_running(client: httpx.Client, job_id: str, progress: float, timeout: float = 120) -> dict:
    """The job once it is running past ``progress`` (mid-fit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"] >= progress:
            return dict(job)
        assert job["status"] in {"queued", "running"}, job
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} never ran past {progress}: {job}")


def assert_applied_in_order(
    client: httpx.Client, model_id: str, accepted: list[dict], jobs: list[dict]
) -> list[dict]:
    """Version n is the n-th accepted chunk's, made by its job from version n-1; no other."""
    assert [j["status"] for j in jobs] == ["succeeded"] * len(jobs), [
        (j["status"], j["error"]) for j in jobs
    ]
    assert [j["result_version"] for j in jobs] == list(range(1, len(jobs) + 1))
    response = client.get(f"/v1/models/{model_id}/versions", params={"limit": 100})
    versions = sorted(response.json()["items"], key=lambda v: v["number"])
    assert [v["number"] for v in versions] == list(range(len(accepted) + 1))
    for n, chunk in enumerate(accepted, start=1):
        assert versions[n]["chunk_id"] == chunk["chunk_id"], n
        assert versions[n]["job_id"] == chunk["job_id"], n
        assert versions[n]["parent"] == n - 1, n
    model = client.get(f"/v1/models/{model_id}").json()
    assert model["chunk_count"] == len(accepted)
    return versions


def assert_versions_complete(
    client: httpx.Client, settings: Settings, model_id: str, versions: list[dict]
) -> None:
    """Each version's artifact downloads with its recorded digest, and every object under
    its prefix (weights, updater state, and its program once recorded: the program
    follows publication) is there and readable."""
    for version in versions:
        artifact = client.get(f"/v1/models/{model_id}/versions/{version['number']}/artifact")
        assert artifact.status_code == 200, artifact.text
        assert hashlib.sha256(artifact.content).hexdigest() == version["artifact_sha256"]
    store = store_from_settings(settings)
    engine = create_engine(settings.database_url)
    with Session(engine) as session:
        prefixes = dict(
            session.execute(
                select(ModelVersion.number, ModelVersion.prefix).where(
                    ModelVersion.model_id == model_id
                )
            ).all()
        )
    engine.dispose()
    for version in versions:
        prefix = prefixes[version["number"]]
        names = [MODEL_FILE] + ([STATE_FILE, STATE_META_FILE] if version["number"] else [])
        for name in names:
            assert store.get_bytes(f"{prefix}/{name}"), (version["number"], name)
        model = store.get_bytes(f"{prefix}/{MODEL_FILE}")
        assert hashlib.sha256(model).hexdigest() == version["artifact_sha256"]
        if version["pt2_sha256"] is not None:
            pt2 = store.get_bytes(f"{prefix}/{PT2_FILE}")
            assert hashlib.sha256(pt2).hexdigest() == version["pt2_sha256"]


def assert_lineage_exact(
    client: httpx.Client, model_id: str, body: dict, chunks: list[ChunkData]
) -> None:
    """The served weights are those of one uninterrupted run of ``chunks`` in order."""
    served = weights_from_artifact(
        client.get(f"/v1/models/{model_id}/versions/latest/artifact").content
    )
    for name, tensor in uninterrupted_run(body, chunks).items():
        assert torch.equal(served[name], tensor), name


def lease_holder(settings: Settings, model_id: str) -> int | None:
    """The pid of the worker process holding the model's update lease, if any."""
    engine = create_engine(settings.database_url)
    with Session(engine) as session:
        owner = session.scalar(select(Model.lease_owner).where(Model.id == model_id))
    engine.dispose()
    return int(owner.split(":")[-2]) if owner else None


def settings_of(env: dict[str, str]) -> Settings:
    """The settings the service's processes run with, as this process can use them."""
    return Settings(
        home=env["RELEARN_HOME"],
        database_url=env["RELEARN_DATABASE_URL"],
        broker_url=env["RELEARN_BROKER_URL"],
        storage_url=env["RELEARN_STORAGE_URL"],
        s3_endpoint_url=env["RELEARN_S3_ENDPOINT_URL"],
    )


def assert_no_lost_work(
    answers: Answers,
    client: httpx.Client,
    service: Service,
    settings: Settings,
    *,
    model_id: str,
    body: dict,
    accepted: list[dict],
    chunks: list[ChunkData],
) -> None:
    """Every invariant of a fault test, once the fault is over (see the module's doc)."""
    jobs = wait_final(client, service, [a["job_id"] for a in accepted])
    versions = assert_applied_in_order(client, model_id, accepted, jobs)
    assert_versions_complete(client, settings, model_id, versions)
    assert_lineage_exact(client, model_id, body, chunks)
    answers.assert_no_5xx_but_503()


def assert_attempt_met_the_fault(service: Service, job_id: str) -> None:
    """A worker logged an attempt of the job failing on the infrastructure (then retried)."""
    logs = "\n".join(
        proc.log.read_text(errors="replace")
        for proc in service.processes.started
        if proc.name.startswith("worker")
    )
    assert f"job {job_id} attempt failed (infrastructure: True)" in logs
