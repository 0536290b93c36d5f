"""Pushing chunks and following their jobs through the client, a real worker training."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import numpy as np
import pytest

from relearn import Client, Conflict, InvalidRequest, Job, JobFailed, NotFound, WaitTimeout
from tests.client.capabilities import Capabilities
from tests.client.data import chunks, slow_arrays, spec

JOB_TIMEOUT = 180


def test_a_pushed_chunk_is_followed_to_its_end(
    client: Client, name: str, capabilities: Capabilities
) -> None:
    # given
    model = client.create_model(spec_body=spec(name))
    (chunk,) = chunks(1)

    # when: arrays are pushed and the job waited for
    seen: list[Job] = []
    job = client.push_chunk(model, chunk, wait=True, timeout=JOB_TIMEOUT, on_update=seen.append)

    # then: it succeeded with version 1, and every state came in order, each once
    assert job.succeeded and job.done and job.result_version == 1 and job.progress == 1.0
    assert seen[-1] == job
    assert all(a != b for a, b in itertools.pairwise(seen))
    progress = [s.progress for s in seen]
    assert progress == sorted(progress)
    # and: the event stream was used where the server has one
    if capabilities.has("get", "/v1/jobs/{job_id}/events"):
        assert client._watcher.events_supported is True
    assert client.get_model(model).latest_version == 1


def test_polling_follows_a_job_as_well(client: Client, name: str) -> None:
    # given: a client that polls (as against a server without the events route)
    client._watcher.events_supported = False
    model = client.create_model(spec_body=spec(name))
    job = client.push_chunk(model, chunks(1)[0])
    assert job.status in ("queued", "running")

    # when
    states = list(client.watch_job(job, timeout=JOB_TIMEOUT, interval=0.1))

    # then
    assert states[-1].succeeded and all(not s.done for s in states[:-1])


def test_a_file_pushed_twice_with_one_key_is_one_job(
    client: Client, name: str, tmp_path: Path
) -> None:
    # given: a chunk as an .npz file
    path = tmp_path / "chunk.npz"
    with path.open("wb") as out:
        np.savez(out, **chunks(1)[0])  # type: ignore[arg-type]
    model = client.create_model(spec_body=spec(name))

    # when: it is pushed twice with the same Idempotency-Key
    first = client.push_chunk(model, path, idempotency_key=f"{name}-1")
    again = client.push_chunk(model, str(path), idempotency_key=f"{name}-1")

    # then: one chunk, one job
    assert again.id == first.id
    assert [c.id for c in client.list_chunks(model)] == [first.chunk_id]
    assert [j.id for j in client.list_jobs(model) if j.chunk_id] == [first.id]
    assert client.wait_job(first, timeout=JOB_TIMEOUT, check=True).succeeded


def test_last_job_is_the_most_recent_push(client: Client, name: str) -> None:
    # given: a model before and after two pushes
    model = client.create_model(spec_body=spec(name))
    before = client.last_job(model)
    first, second = (client.push_chunk(model, chunk) for chunk in chunks(2))

    # when
    last = client.last_job(model)

    # then: none before a chunk, then the second push's job
    assert before is None
    assert last is not None and last.id == second.id != first.id


def test_the_updater_can_be_overridden_for_one_chunk(client: Client, name: str) -> None:
    model = client.create_model(spec_body=spec(name))
    job = client.push_chunk(model, chunks(1)[0], updater={"name": "naive"})
    assert job.updater is not None and job.updater.name == "naive"
    assert model.updater.name == "er"
    assert client.wait_job(job, timeout=JOB_TIMEOUT).succeeded


def test_a_wait_that_runs_out_says_where_the_job_is(client: Client, name: str) -> None:
    # given: a job that takes seconds
    model = client.create_model(spec_body=spec(name, epochs=40))
    job = client.push_chunk(model, slow_arrays())
    # when / then
    with pytest.raises(WaitTimeout) as caught:
        client.wait_job(job, timeout=0.5)
    assert isinstance(caught.value.last, Job) and caught.value.last.id == job.id
    assert caught.value.last.status in ("queued", "running")
    cancel_or_wait(client, job)


def test_a_queued_job_is_cancelled(client: Client, name: str) -> None:
    # given: a slow job, and a second one queued behind it
    model = client.create_model(spec_body=spec(name, epochs=40))
    slow = client.push_chunk(model, slow_arrays())
    queued = client.push_chunk(model, chunks(1)[0])

    # when
    cancelled = client.cancel_job(queued)

    # then: it is final, and a checked wait says it did not succeed
    assert cancelled.status == "cancelled" and cancelled.done
    with pytest.raises(JobFailed) as caught:
        client.wait_job(queued, timeout=30, check=True)
    assert caught.value.job.status == "cancelled"
    cancel_or_wait(client, slow)


def test_unknown_jobs_and_models_are_not_found(client: Client, name: str) -> None:
    with pytest.raises(NotFound):
        client.get_job(f"{name}-nobody")
    with pytest.raises(NotFound):
        client.wait_job(f"{name}-nobody", timeout=10)
    with pytest.raises(NotFound):
        client.push_chunk(f"{name}-nobody", chunks(1)[0])


def test_an_invalid_chunk_is_refused_naming_the_problem(client: Client, name: str) -> None:
    model = client.create_model(spec_body=spec(name))
    chunk = chunks(1)[0]
    chunk["x"] = chunk["x"].copy()
    chunk["x"][0, 0] = np.nan
    with pytest.raises(InvalidRequest) as caught:
        client.push_chunk(model, chunk)
    assert caught.value.errors and caught.value.errors[0].reason


def cancel_or_wait(client: Client, job: Job) -> None:
    """Leave no slow job behind on the shared server: cancel it, or let it finish."""
    with contextlib.suppress(Conflict):  # a running job, where the server cannot stop one
        client.cancel_job(job)
    client.wait_job(job, timeout=JOB_TIMEOUT)
