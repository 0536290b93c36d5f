"""Retention: remove the history a model's ``retention`` policy does not keep.

- ``keep_chunks: K`` removes the raw object of every *applied* chunk (one a version was
  made from) but the newest K. Its eval split stays (``app/storage.eval_split_key``), so
  every later job still evaluates on it and the accuracy matrix stays exact; its row stays
  (``pruned_at`` set). A chunk not applied yet, or whose eval split is not saved apart, is
  kept.
- ``keep_versions: K`` removes the objects of every version but the newest K, except the
  latest, those an alias holds, the source of a queued or running rollback, and a version
  whose program is still to be exported. Its row stays (``pruned_at`` set), so that the
  accuracy matrix and lineage stay exact; the API answers 410 for it.

The reconciler runs this in the background for every model with a policy, under the
model's update lease (so never beside one of its jobs). Crash-safe: a chunk's object goes
first and its row is marked after, so a crash between leaves it to the next round; a
version is marked first (it is gone from the API at once, and the mark takes the model
row's lock, which a rollback request takes too), its objects go next, and its
``storage_bytes`` turn 0 last — a marked version that still has bytes is finished by the
next round. ``Model.storage_bytes`` drops by what each mark removes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Alias, Chunk, Job, JobKind, Model, ModelVersion, utcnow
from app.storage import ObjectStore, eval_split_key
from worker.job_store import JobStore
from worker.store.attempts import PENDING

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    """What one round removed from a model."""

    chunks: int = 0
    versions: int = 0


@dataclass(frozen=True)
class ChunkObject:
    id: str
    object_key: str
    num_eval: int


@dataclass(frozen=True)
class RetentionStore:
    """Retention's queries, each method one transaction."""

    sessions: sessionmaker[Session]

    def models_with_policy(self) -> list[str]:
        with self.sessions() as session:
            rows = session.execute(
                select(Model.id, Model.retention)
                .where(Model.deleted_at.is_(None))
                .order_by(Model.id)
            )
            return [model_id for model_id, policy in rows if policy]

    def policy(self, *, model_id: str) -> dict[str, Any]:
        with self.sessions() as session:
            model = session.get(Model, model_id)
            return dict(model.retention or {}) if model and model.deleted_at is None else {}

    def chunks_beyond(self, *, model_id: str, keep: int) -> list[ChunkObject]:
        """The model's applied chunks still stored, but the newest ``keep``."""
        with self.sessions() as session:
            applied = select(ModelVersion.chunk_id).where(
                ModelVersion.model_id == model_id, ModelVersion.chunk_id.is_not(None)
            )
            rows = session.scalars(
                select(Chunk)
                .where(
                    Chunk.model_id == model_id,
                    Chunk.pruned_at.is_(None),
                    Chunk.id.in_(applied),
                )
                .order_by(Chunk.seq.desc())
                .offset(keep)
            )
            return [ChunkObject(c.id, c.object_key, c.num_eval) for c in rows]

    def mark_chunk(self, *, chunk_id: str) -> None:
        """The chunk's raw object is gone: mark its row, and the model's bytes drop."""
        with self.sessions.begin() as session:
            chunk = session.get_one(Chunk, chunk_id)
            if chunk.pruned_at is not None:
                return
            chunk.pruned_at = utcnow()
            session.execute(
                update(Model)
                .where(Model.id == chunk.model_id)
                .values(storage_bytes=Model.storage_bytes - chunk.size_bytes)
            )

    def mark_versions(self, *, model_id: str, keep: int) -> None:
        """Mark the versions ``keep_versions`` no longer keeps (gone from the API from this
        commit); the model's bytes drop by theirs."""
        with self.sessions.begin() as session:
            # First the model row's lock: a rollback request (which takes it too) either
            # committed before, and its source is kept, or waits and then finds it marked.
            session.execute(
                update(Model).where(Model.id == model_id).values(storage_bytes=Model.storage_bytes)
            )
            model = session.get_one(Model, model_id, populate_existing=True)
            newest = select(ModelVersion.number).where(ModelVersion.model_id == model_id)
            kept = set(session.scalars(newest.order_by(ModelVersion.number.desc()).limit(keep)))
            kept.add(model.latest_version)
            kept |= set(session.scalars(select(Alias.version).where(Alias.model_id == model_id)))
            kept |= {
                n
                for n in session.scalars(
                    select(Job.source_version).where(
                        Job.model_id == model_id,
                        Job.kind == JobKind.rollback,
                        Job.status.in_(PENDING),
                    )
                )
                if n is not None
            }
            victims = list(
                session.scalars(
                    select(ModelVersion).where(
                        ModelVersion.model_id == model_id,
                        ModelVersion.pruned_at.is_(None),
                        ModelVersion.pt2_sha256.is_not(None),
                        ModelVersion.number.not_in(kept),
                    )
                )
            )
            now = utcnow()
            for version in victims:
                version.pruned_at = now
            released = sum(v.storage_bytes for v in victims)
            model.storage_bytes -= released

    def marked_versions(self, *, model_id: str) -> list[tuple[int, str]]:
        """Versions marked whose objects are not known to be gone: (number, prefix)."""
        with self.sessions() as session:
            rows = session.execute(
                select(ModelVersion.number, ModelVersion.prefix).where(
                    ModelVersion.model_id == model_id,
                    ModelVersion.pruned_at.is_not(None),
                    ModelVersion.storage_bytes > 0,
                )
            )
            return [(number, prefix) for number, prefix in rows]

    def purged(self, *, model_id: str, number: int) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.model_id == model_id, ModelVersion.number == number)
                .values(storage_bytes=0)
            )

    def stored_bytes(self, *, model_id: str) -> int:
        """What the rows say is stored (for checks: the counter should equal it)."""
        with self.sessions() as session:
            chunks = session.scalar(
                select(func.coalesce(func.sum(Chunk.size_bytes), 0)).where(
                    Chunk.model_id == model_id, Chunk.pruned_at.is_(None)
                )
            )
            versions = session.scalar(
                select(func.coalesce(func.sum(ModelVersion.storage_bytes), 0)).where(
                    ModelVersion.model_id == model_id, ModelVersion.pruned_at.is_(None)
                )
            )
            return int(chunks or 0) + int(versions or 0)


def prune_model(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    *,
    model_id: str,
    owner: str,
    lease_seconds: float,
) -> Pruned | None:
    """One round of the model's retention, under the model's update lease (the workers'
    ``lease_seconds``); None when a worker holds it (the next round tries again)."""
    jobs, retention = JobStore(sessions), RetentionStore(sessions)
    if not jobs.take_lease(model_id=model_id, owner=owner, seconds=lease_seconds):
        return None
    try:
        policy = retention.policy(model_id=model_id)
        chunks = 0
        if (keep_chunks := policy.get("keep_chunks")) is not None:
            for chunk in retention.chunks_beyond(model_id=model_id, keep=int(keep_chunks)):
                if chunk.num_eval and not store.exists(eval_split_key(model_id, chunk.id)):
                    continue  # its eval split lives only in the chunk: keep it
                store.delete(chunk.object_key)
                retention.mark_chunk(chunk_id=chunk.id)
                chunks += 1
        if (keep_versions := policy.get("keep_versions")) is not None:
            retention.mark_versions(model_id=model_id, keep=int(keep_versions))
        versions = 0
        for number, prefix in retention.marked_versions(model_id=model_id):
            store.delete_prefix(prefix)
            retention.purged(model_id=model_id, number=number)
            versions += 1
    finally:
        jobs.release_lease(model_id=model_id, owner=owner)
    if chunks or versions:
        log.info("model %s: retention removed %d chunks, %d versions", model_id, chunks, versions)
    return Pruned(chunks=chunks, versions=versions)


def prune_all(
    sessions: sessionmaker[Session], store: ObjectStore, *, owner: str, lease_seconds: float
) -> int:
    """A round over every model with a retention policy; how many it pruned something of."""
    pruned = 0
    for model_id in RetentionStore(sessions).models_with_policy():
        done = prune_model(
            sessions, store, model_id=model_id, owner=owner, lease_seconds=lease_seconds
        )
        pruned += bool(done and (done.chunks or done.versions))
    return pruned
