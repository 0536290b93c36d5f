"""``/v1/models/{id}/aliases``: named pointers at versions (``production``...)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import SessionDep
from app.api.paging import PageDep
from app.db.models import Alias
from app.schemas.aliases import AliasList, AliasPublic, AliasSet
from app.schemas.problem import problem_responses
from app.services import aliases as service

router = APIRouter(prefix="/v1/models/{model_id}/aliases", tags=["aliases"])


def alias_public(alias: Alias) -> AliasPublic:
    return AliasPublic(alias=alias.name, version=alias.version, updated_at=alias.updated_at)


@router.get("", response_model=AliasList, responses=problem_responses(404, 422))
def list_aliases(model_id: str, session: SessionDep, page: PageDep) -> AliasList:
    found = service.list_aliases(session=session, model_id=model_id, page=page)
    return AliasList(items=[alias_public(a) for a in found.items], next_cursor=found.next_cursor)


@router.put("/{alias}", response_model=AliasPublic, responses=problem_responses(404, 422))
def set_alias(model_id: str, alias: str, body: AliasSet, session: SessionDep) -> AliasPublic:
    """Set or move the alias; ``latest`` is reserved. ``versions/{alias}`` then resolves it."""
    return alias_public(
        service.set_alias(session=session, model_id=model_id, name=alias, version=body.version)
    )


@router.delete("/{alias}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404))
def delete_alias(model_id: str, alias: str, session: SessionDep) -> Response:
    service.delete_alias(session=session, model_id=model_id, name=alias)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
