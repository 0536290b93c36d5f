"""Accepting a data chunk: validate it, store it, record it with its job, enqueue.

The order makes an accepted chunk durable and a rejected one traceless: check the
temporary file in bounded memory (422, or 413 past the decoded-size limit; nothing exists
yet); upload it under a fresh chunk id; in one transaction take the model's next chunk
number and queue place (``UPDATE ... RETURNING`` locks the model row) and insert the
chunk and its queued job, deleting the object if that fails; send the task after the
commit. The ``(model_id, idempotency_key)`` constraint decides retries and races.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.architectures import ArchitectureSpec, input_shape, num_classes
from app.chunk_format import (
    ChunkCounts,
    ChunkFormatError,
    ChunkLimits,
    DecodedSizeExceeded,
    check_chunk_file,
    detect_format,
)
from app.config import Settings
from app.db.models import Chunk, Job, Model, new_id
from app.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, ServiceUnavailable
from app.queue import TaskQueue
from app.schemas.chunks import ChunkAccepted
from app.schemas.updaters import UpdaterSpec
from app.services.models import ensure_accepts_chunks, get_model
from app.services.orphans import delete_object_quietly
from app.services.pages import Page, PageRequest
from app.services.queue_place import queued_job
from app.storage import ObjectStore, chunk_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedFile:
    """An uploaded file, complete on local disk, with its size and sha256."""

    path: Path
    filename: str | None
    size: int
    sha256: str


@dataclass(frozen=True)
class UploadTarget:
    """What validating a chunk for a model needs to know about the model."""

    model_id: str
    architecture: ArchitectureSpec
    default_updater: UpdaterSpec


@dataclass(frozen=True)
class SubmittedChunk:
    accepted: ChunkAccepted
    replayed: bool  # True: an earlier request with the same Idempotency-Key created it


def upload_target(*, sessions: sessionmaker[Session], model_id: str) -> UploadTarget:
    """The model an upload goes to (404 before any byte of the body is read)."""
    with sessions() as session:
        model = get_model(session=session, model_id=model_id)
        ensure_accepts_chunks(model)
        return UploadTarget(
            model_id=model.id,
            architecture=ArchitectureSpec.model_validate(model.architecture),
            default_updater=UpdaterSpec.model_validate(model.updater),
        )


def chunk_limits(settings: Settings) -> ChunkLimits:
    return ChunkLimits(
        max_decoded_bytes=settings.max_decoded_chunk_bytes,
        max_abs_feature=settings.max_abs_feature,
    )


def list_chunks(*, session: Session, model_id: str, page: PageRequest | None = None) -> Page[Chunk]:
    """The model's chunks in submission order; the cursor is the last ``seq`` shown."""
    get_model(session=session, model_id=model_id)
    page = page or PageRequest()
    query = select(Chunk).where(Chunk.model_id == model_id)
    if page.cursor is not None:
        query = query.where(Chunk.seq > page.seq_cursor())
    rows = list(session.scalars(query.order_by(Chunk.seq).limit(page.limit + 1)))
    return Page.of(rows, page.limit, lambda c: str(c.seq))


def submit_chunk(
    *,
    sessions: sessionmaker[Session],
    store: ObjectStore,
    tasks: TaskQueue,
    target: UploadTarget,
    file: ReceivedFile,
    updater: UpdaterSpec | None,
    idempotency_key: str | None,
    limits: ChunkLimits,
) -> SubmittedChunk:
    model_id = target.model_id
    job_updater = updater or target.default_updater
    if idempotency_key is not None:
        with sessions() as session:
            earlier = _earlier_submission(session, model_id, idempotency_key, file, job_updater)
        if earlier is not None:
            return earlier

    fmt, counts = _checked_chunk(target, file, limits)
    chunk_id = new_id()
    key = chunk_key(model_id, chunk_id, fmt)
    try:
        store.put_file(file.path, key)
    except Exception as exc:
        # No clean-up call: it would wait on the same failing store. A failed PUT left no
        # object, or (its answer lost) an orphan that no row points at.
        log.exception("storing chunk %s of model %s failed", chunk_id, model_id)
        raise ServiceUnavailable("object storage is unavailable; retry later") from exc

    try:
        job_id = _record(
            sessions, model_id, chunk_id, key, fmt, counts, file, job_updater, idempotency_key
        )
    except IntegrityError:
        delete_object_quietly(store, key)
        if idempotency_key is None:
            raise
        # Another request with the same key committed first: answer as it was answered.
        with sessions() as session:
            earlier = _earlier_submission(session, model_id, idempotency_key, file, job_updater)
        if earlier is None:
            raise
        return earlier
    except BaseException:
        delete_object_quietly(store, key)
        raise

    tasks.model_has_work(model_id, job_id)
    return SubmittedChunk(ChunkAccepted(job_id=job_id, chunk_id=chunk_id), replayed=False)


def _checked_chunk(
    target: UploadTarget, file: ReceivedFile, limits: ChunkLimits
) -> tuple[str, ChunkCounts]:
    """The chunk's format and sample counts, or a 422 (413: too large decoded) naming the
    field. Memory stays bounded whatever the file's size or compression."""
    try:
        fmt = detect_format(file.path, file.filename)
        counts = check_chunk_file(
            file.path,
            fmt,
            input_shape=input_shape(target.architecture),
            num_classes=num_classes(target.architecture),
            limits=limits,
        )
    except DecodedSizeExceeded as exc:
        raise PayloadTooLarge(str(exc), field=exc.field) from None
    except ChunkFormatError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    return fmt, counts


def _record(
    sessions: sessionmaker[Session],
    model_id: str,
    chunk_id: str,
    key: str,
    fmt: str,
    counts: ChunkCounts,
    file: ReceivedFile,
    updater: UpdaterSpec,
    idempotency_key: str | None,
) -> str:
    """One transaction: next sequence number, the Chunk row and its queued Job row."""
    with sessions.begin() as session:
        # The chunk's number and its job's queue place (rollbacks and retries take queue
        # places too); the model's stored bytes grow by the chunk's.
        places = session.execute(
            update(Model)
            .where(Model.id == model_id)
            .values(
                chunk_count=Model.chunk_count + 1,
                job_count=Model.job_count + 1,
                storage_bytes=Model.storage_bytes + file.size,
            )
            .returning(Model.chunk_count, Model.job_count)
        ).one_or_none()
        if places is None:
            raise NotFound(f"no model {model_id!r}", field="model_id")
        seq, place = places
        session.add(
            Chunk(
                id=chunk_id,
                model_id=model_id,
                seq=seq,
                object_key=key,
                format=fmt,
                sha256=file.sha256,
                size_bytes=file.size,
                num_samples=counts.num_samples,
                num_eval=counts.num_eval,
                idempotency_key=idempotency_key,
            )
        )
        session.flush()
        job = queued_job(
            model_id=model_id, seq=place, updater=updater.model_dump(), chunk_id=chunk_id
        )
        session.add(job)
        session.flush()
        return job.id


def _earlier_submission(
    session: Session, model_id: str, key: str, file: ReceivedFile, updater: UpdaterSpec
) -> SubmittedChunk | None:
    row = session.execute(
        select(Chunk, Job)
        .join(Job, Job.chunk_id == Chunk.id)
        .where(Chunk.model_id == model_id, Chunk.idempotency_key == key)
    ).first()
    if row is None:
        return None
    chunk, job = row
    if chunk.sha256 != file.sha256:
        raise Conflict(
            "this Idempotency-Key was already used for a different file "
            f"(sha256 {chunk.sha256}, this one is {file.sha256})",
            field="Idempotency-Key",
        )
    if job.updater != updater.model_dump():
        raise Conflict(
            "this Idempotency-Key was already used with a different updater",
            field="Idempotency-Key",
        )
    return SubmittedChunk(ChunkAccepted(job_id=job.id, chunk_id=chunk.id), replayed=True)
