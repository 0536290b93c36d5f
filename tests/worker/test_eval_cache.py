"""Eval splits cached on the worker between jobs of a model: later jobs read no earlier
split from storage, with the same results as without the cache; the cache stays within
its byte budget, least recently used first out."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import ModelVersion
from app.storage import ObjectStore
from tests.e2e.data import class_incremental_chunks, model_body
from tests.worker.factories import add_chunk, create_model
from worker.eval_cache import EvalCache
from worker.job_runner import JobRunner

BODY = model_body("cache", {"name": "er", "params": {"memory_size": 40}}, epochs=1)


class CountingStore(ObjectStore):
    """The real local store, recording the key of every object read."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.reads: list[str] = []

    def get_file(self, key: str, local_path: str | os.PathLike[str]) -> None:
        self.reads.append(key)
        super().get_file(key, local_path)


def trained(
    sessions: sessionmaker[Session], store: CountingStore, cache: EvalCache
) -> tuple[str, list[str]]:
    """A model given three chunks, one job after another on one worker; the model and the
    keys the jobs read from storage."""
    model_id = create_model(sessions, store, {**BODY, "name": None})
    runner = JobRunner(
        sessions=sessions, store=store, device=torch.device("cpu"), owner="w", eval_cache=cache
    )
    store.reads.clear()
    for chunk in class_incremental_chunks(3):
        add_chunk(sessions, store, model_id, chunk)
        runner.process_model(model_id)
    return model_id, list(store.reads)


def versions(sessions: sessionmaker[Session], store: ObjectStore, model_id: str) -> list:
    with sessions() as session:
        rows = session.scalars(
            select(ModelVersion)
            .where(ModelVersion.model_id == model_id, ModelVersion.number >= 1)
            .order_by(ModelVersion.number)
        )
        return [(v.metrics["accuracy"], v.prefix) for v in rows]


def test_later_jobs_read_no_earlier_eval_split_and_results_are_unchanged(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    # given: the same model and chunks on a worker with the cache and on one without
    store = CountingStore(str(tmp_path / "objects"))
    cached, cached_reads = trained(sessions, store, EvalCache())
    uncached, uncached_reads = trained(sessions, store, EvalCache(max_bytes=0))

    # then: without the cache, jobs 2 and 3 read the earlier splits (1; 1 and 2) ...
    assert sum("/eval/" in key for key in uncached_reads) == 3
    # ... with it, no job reads an eval split, and each chunk is read once, by its job
    assert [key for key in cached_reads if "/eval/" in key] == []
    assert sum("/chunks/" in key for key in cached_reads) == 3

    # and: the accuracy rows and the weights are the same
    with_cache, without = versions(sessions, store, cached), versions(sessions, store, uncached)
    assert [row for row, _ in with_cache] == [row for row, _ in without]
    assert len(with_cache[-1][0]) == 3
    for (_, a), (_, b) in zip(with_cache, without, strict=True):
        store.get_file(f"{a}/model.safetensors", tmp_path / "a.safetensors")
        store.get_file(f"{b}/model.safetensors", tmp_path / "b.safetensors")
        wa, wb = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "b.safetensors")
        assert all(torch.equal(wa[k], wb[k]) for k in wa)


def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An eval split of ``n`` float32 samples of 4 features: 20·n bytes with its labels."""
    return torch.zeros(n, 4), torch.zeros(n, dtype=torch.int32)


def test_the_cache_keeps_within_its_budget_least_recently_used_first_out() -> None:
    # given: room for 30 samples, and splits of 10 samples (200 bytes each)
    cache = EvalCache(max_bytes=600)
    for chunk in "abc":
        cache.put("m", chunk, *split(10))
    assert cache.nbytes == 600

    # when: "a" is used, then a fourth split comes
    assert cache.get("m", "a") is not None
    cache.put("m", "d", *split(10))

    # then: "b", the least recently used, is gone; the budget holds
    assert cache.get("m", "b") is None
    assert all(cache.get("m", c) is not None for c in "acd")
    assert cache.nbytes == 600

    # and: a split larger than the whole budget is not kept, and evicts nothing
    cache.put("m", "huge", *split(31))
    assert cache.get("m", "huge") is None and cache.nbytes == 600


def test_a_split_that_views_a_larger_buffer_is_kept_alone() -> None:
    # given: an eval split that is a view into a staged chunk's buffer
    buffer = torch.arange(100, dtype=torch.float32)
    x, y = buffer[80:88].view(2, 4), torch.tensor([0, 1])

    # when cached, then it holds its own 32 bytes, with the same values
    cache = EvalCache()
    cache.put("m", "c", x, y)
    kept = cache.get("m", "c")
    assert kept is not None and torch.equal(kept[0], x)
    assert kept[0].untyped_storage().nbytes() == 32
