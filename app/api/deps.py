"""Request dependencies, as ``Annotated`` aliases (``SessionDep`` and friends).

Everything comes from ``app.state``, which ``create_app(settings)`` fills, so each app
(and each test) runs against the database, store and broker of its own settings. Sessions
act for the tenant of the request's API key (``app/api/auth.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.api.auth import Principal, authenticate
from app.config import Settings
from app.queue import TaskQueue
from app.services.tenants import TENANT_INFO
from app.storage import ObjectStore

PrincipalDep = Annotated[Principal, Depends(authenticate)]


def settings_of_app(request: Request) -> Settings:
    return request.app.state.settings


def sessions_of_app(request: Request, principal: PrincipalDep) -> sessionmaker[Session]:
    """The app's sessionmaker, its sessions acting for the request's tenant."""
    base: sessionmaker[Session] = request.app.state.sessions
    return sessionmaker(class_=base.class_, **(base.kw | {"info": tenant_info(principal)}))


def get_db(request: Request, principal: PrincipalDep) -> Iterator[Session]:
    with request.app.state.sessions(info=tenant_info(principal)) as session:
        yield session


def tenant_info(principal: Principal) -> dict[str, str | None]:
    return {TENANT_INFO: principal.tenant}


def store_of_app(request: Request) -> ObjectStore:
    return request.app.state.store


def tasks_of_app(request: Request) -> TaskQueue:
    return request.app.state.tasks


SettingsDep = Annotated[Settings, Depends(settings_of_app)]
SessionDep = Annotated[Session, Depends(get_db)]
SessionmakerDep = Annotated[sessionmaker[Session], Depends(sessions_of_app)]
StoreDep = Annotated[ObjectStore, Depends(store_of_app)]
TasksDep = Annotated[TaskQueue, Depends(tasks_of_app)]
