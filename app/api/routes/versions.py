"""``/v1/models/{id}/versions``: published versions and their downloadable artifacts."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse

from app.api.deps import SessionDep, StoreDep
from app.api.paging import PageDep
from app.db.models import ModelVersion
from app.errors import ServiceUnavailable
from app.schemas.problem import problem_responses
from app.schemas.versions import ArtifactFormat, VersionList, VersionPublic
from app.services import versions as service
from app.services.aliases import aliases_by_version

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/models/{model_id}/versions", tags=["versions"])

VersionRef = Annotated[str, "a version number, 'latest' or an alias"]
IMMUTABLE = "public, max-age=31536000, immutable"


def version_public(version: ModelVersion, aliases: dict[int, list[str]]) -> VersionPublic:
    public = VersionPublic.model_validate(version, from_attributes=True)
    public.aliases = aliases.get(version.number, [])
    return public


@router.get("", response_model=VersionList, responses=problem_responses(404, 422))
def list_versions(model_id: str, session: SessionDep, page: PageDep) -> VersionList:
    found = service.list_versions(session=session, model_id=model_id, page=page)
    aliases = aliases_by_version(session, model_id)
    return VersionList(
        items=[version_public(v, aliases) for v in found.items], next_cursor=found.next_cursor
    )


@router.get("/{version}", response_model=VersionPublic, responses=problem_responses(404, 422))
def get_version(model_id: str, version: VersionRef, session: SessionDep) -> VersionPublic:
    """``version`` is a number, ``latest``, or an alias such as ``production``."""
    found = service.get_version(session=session, model_id=model_id, ref=version)
    return version_public(found, aliases_by_version(session, found.model_id))


def etag_matches(if_none_match: str | None, sha256: str) -> bool:
    """RFC 9110 If-None-Match (weak comparison): ``*`` or any listed tag equal to ours."""
    if if_none_match is None:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(t == "*" or t.removeprefix("W/") == f'"{sha256}"' for t in tags)


@router.get(
    "/{version}/artifact",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The artifact."},
        304: {"description": "Not modified (If-None-Match matched the ETag)."},
        **problem_responses(404, 409, 422),
    },
)
def get_artifact(
    model_id: str,
    version: VersionRef,
    session: SessionDep,
    store: StoreDep,
    format: Annotated[ArtifactFormat, Query(description="safetensors or pt2")] = "safetensors",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The version's ``model.safetensors`` (state_dict, architecture JSON in its metadata)
    or ``model.pt2`` (a ``torch.export`` program). ``ETag`` is the content's sha256."""
    artifact = service.get_artifact(session=session, model_id=model_id, ref=version, fmt=format)
    headers = {
        "ETag": f'"{artifact.sha256}"',
        "Cache-Control": IMMUTABLE if version.isdigit() else "no-cache",  # aliases move
    }
    if etag_matches(if_none_match, artifact.sha256):
        return Response(status_code=304, headers=headers)
    try:
        size = store.size(artifact.key)
    except FileNotFoundError:
        log.error("artifact object %s is missing from storage", artifact.key)
        raise ServiceUnavailable("the artifact's object is missing from storage") from None
    except Exception as exc:
        log.exception("object storage failed for %s", artifact.key)
        raise ServiceUnavailable("object storage is unavailable; retry later") from exc
    headers["Content-Length"] = str(size)
    headers["Content-Disposition"] = f'attachment; filename="{artifact.filename}"'
    return StreamingResponse(
        store.iter_bytes(artifact.key), media_type=artifact.media_type, headers=headers
    )
