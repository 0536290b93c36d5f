"""``/v1/architectures``: what a model can be built as, with each one's params schema."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import SessionDep
from app.schemas.architectures import ArchitectureList
from app.services import architectures as service

router = APIRouter(prefix="/v1/architectures", tags=["architectures"])


@router.get("", response_model=ArchitectureList)
def list_architectures(session: SessionDep) -> ArchitectureList:
    """Built-ins, then the entry-point architectures announced by recently seen workers."""
    return ArchitectureList(items=service.list_architectures(session=session))
