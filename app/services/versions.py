"""Published versions of a model and their artifacts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ModelVersion
from app.errors import Conflict, InvalidInput, NotFound
from app.services.models import get_model
from app.storage import MODEL_FILE, PT2_FILE

VERSION_REF = re.compile(r"latest|[0-9]+")
MAX_VERSION_NUMBER = 2**31 - 1  # the column is a 32-bit INTEGER


@dataclass(frozen=True)
class Artifact:
    """Where a version's downloadable file is and what to call it."""

    key: str
    sha256: str
    filename: str
    media_type: str


def list_versions(*, session: Session, model_id: str) -> list[ModelVersion]:
    get_model(session=session, model_id=model_id)
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.model_id == model_id)
            .order_by(ModelVersion.number)
        )
    )


def get_version(*, session: Session, model_id: str, ref: str) -> ModelVersion:
    """``ref`` is a version number or ``latest``."""
    if not VERSION_REF.fullmatch(ref):
        raise InvalidInput(
            f"version: must be a version number or 'latest', got {ref[:40]!r}", field="version"
        )
    model = get_model(session=session, model_id=model_id)
    # (a long digit string is beyond any version, and beyond what int() parses by default)
    number = model.latest_version if ref == "latest" else int(ref) if len(ref) <= 18 else None
    version = (
        session.get(ModelVersion, (model.id, number))
        if number is not None and number <= MAX_VERSION_NUMBER
        else None
    )
    if version is None:
        raise NotFound(f"model {model.id} has no version {ref}", field="version")
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
        raise Conflict(
            f"the .pt2 program of version {version.number} is not exported yet (a worker "
            "exports it shortly after the model is registered); retry later",
            field="format",
            headers={"Retry-After": "5"},
        )
    return Artifact(
        key=f"{version.prefix}/{PT2_FILE}",
        sha256=version.pt2_sha256,
        filename=f"{stem}.pt2",
        media_type="application/octet-stream",
    )
