"""Published versions of a model and their artifacts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ModelVersion
from app.errors import Conflict, Gone, InvalidInput, NotFound
from app.services.aliases import ALIAS_NAME, resolve_alias
from app.services.models import get_model
from app.services.pages import Page, PageRequest
from app.storage import MODEL_FILE, PT2_FILE

VERSION_REF = re.compile(r"latest|[0-9]+")
MAX_VERSION_NUMBER = 2**31 - 1  # the column is a 32-bit INTEGER
PT2_RETRY_AFTER_S = 1  # an export takes ~50 ms once a worker's first is done


@dataclass(frozen=True)
class Artifact:
    """Where a version's downloadable file is and what to call it."""

    key: str
    sha256: str
    filename: str
    media_type: str


def list_versions(
    *, session: Session, model_id: str, page: PageRequest | None = None
) -> Page[ModelVersion]:
    """The model's versions, oldest first; the cursor is the last number shown."""
    get_model(session=session, model_id=model_id)
    page = page or PageRequest()
    # Versions retention removed are gone (GET answers 410); their rows stay for metrics.
    query = select(ModelVersion).where(
        ModelVersion.model_id == model_id, ModelVersion.pruned_at.is_(None)
    )
    if page.cursor is not None:
        query = query.where(ModelVersion.number > page.seq_cursor())
    rows = list(session.scalars(query.order_by(ModelVersion.number).limit(page.limit + 1)))
    return Page.of(rows, page.limit, lambda v: str(v.number))


def get_version(*, session: Session, model_id: str, ref: str) -> ModelVersion:
    """``ref`` is a version number, ``latest``, or one of the model's aliases."""
    model = get_model(session=session, model_id=model_id)
    number: int | None
    if VERSION_REF.fullmatch(ref):
        # (a long digit string is beyond any version, and beyond what int() parses by default)
        number = model.latest_version if ref == "latest" else int(ref) if len(ref) <= 18 else None
    elif ALIAS_NAME.fullmatch(ref):
        number = resolve_alias(session, model.id, ref)
        if number is None:
            raise NotFound(f"model {model.id} has no version or alias {ref!r}", field="version")
    else:
        raise InvalidInput(
            f"version: must be a version number, 'latest' or an alias, got {ref[:40]!r}",
            field="version",
        )
    version = (
        session.get(ModelVersion, (model.id, number))
        if number is not None and number <= MAX_VERSION_NUMBER
        else None
    )
    if version is None:
        raise NotFound(f"model {model.id} has no version {ref}", field="version")
    if version.pruned_at is not None:
        raise Gone(
            f"version: version {version.number} of model {model.id} was removed by the "
            "model's retention (retention.keep_versions)",
            field="version",
        )
    return version


def get_artifact(*, session: Session, model_id: str, ref: str, fmt: str) -> Artifact:
    version = get_version(session=session, model_id=model_id, ref=ref)
    stem = f"{version.model_id}-v{version.number}"
    if fmt == "safetensors":
        return Artifact(
            key=f"{version.prefix}/{MODEL_FILE}",
            sha256=version.artifact_sha256,
            filename=f"{stem}.safetensors",
            media_type="application/octet-stream",
        )
    if version.pt2_sha256 is None:
        # The program follows the version's publication (worker/program_export.py): the
        # worker exports it once the model's queue is drained, or the reconciler's next
        # round re-sends the model if that worker died first.
        raise Conflict(
            f"the .pt2 program of version {version.number} is not exported yet (a worker "
            "exports it shortly after the version is published); retry later",
            field="format",
            headers={"Retry-After": str(PT2_RETRY_AFTER_S)},
        )
    return Artifact(
        key=f"{version.prefix}/{PT2_FILE}",
        sha256=version.pt2_sha256,
        filename=f"{stem}.pt2",
        media_type="application/octet-stream",
    )
