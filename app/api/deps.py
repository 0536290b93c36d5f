"""Request dependencies, as ``Annotated`` aliases (``SessionDep`` and friends).

Everything comes from ``app.state``, which ``create_app(settings)`` fills, so each app
(and each test) runs against the database, store and broker of its own settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.queue import TaskQueue
from app.storage import ObjectStore


def settings_of_app(request: Request) -> Settings:
    return request.app.state.settings


def sessions_of_app(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def store_of_app(request: Request) -> ObjectStore:
    return request.app.state.store


def tasks_of_app(request: Request) -> TaskQueue:
    return request.app.state.tasks


SettingsDep = Annotated[Settings, Depends(settings_of_app)]
SessionDep = Annotated[Session, Depends(get_db)]
SessionmakerDep = Annotated[sessionmaker[Session], Depends(sessions_of_app)]
StoreDep = Annotated[ObjectStore, Depends(store_of_app)]
TasksDep = Annotated[TaskQueue, Depends(tasks_of_app)]
