"""The FastAPI application factory: ``uvicorn --factory app.api.main:create_app``.

``create_app(settings)`` puts the settings, the database engine and sessionmaker, the
object store and the task queue on ``app.state``; the dependencies in ``deps.py`` read
them from there. Nothing is created at import time. At start-up the app refuses to run
against a database that is not at the latest migration (run ``relearn db upgrade``).

``/docs`` (Swagger UI 5) and ``/redoc`` load their scripts from ``/docs/assets``, files of
the fastapi-offline package: no CDN, so they work offline and render OpenAPI 3.1.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.orm import sessionmaker

from app.api.auth import authenticate
from app.api.body_limit import JsonBodyLimit
from app.api.problems import install_problem_handlers
from app.api.request_log import RequestLog
from app.api.routes import (
    aliases,
    architectures,
    chunks,
    events,
    health,
    jobs,
    metrics,
    models,
    prometheus,
    rollback,
    versions,
)
from app.config import Settings, get_settings
from app.db.migrate import ensure_at_head
from app.db.session import make_engine
from app.logs import ensure_logging
from app.openapi import install_openapi
from app.queue import TaskQueue, make_celery
from app.storage import store_from_settings
from app.telemetry.exposition import Telemetry, multiprocess_dir
from app.telemetry.http import RequestMetrics
from app.ui.site import install_ui

log = logging.getLogger(__name__)

DESCRIPTION = """\
Keeps PyTorch models up to date as labelled data chunks arrive, with continual-learning
updaters (naive, ER, DER/DER++, GEM, A-GEM, RWalk) run by GPU workers.

Errors are RFC 9457 `application/problem+json` bodies naming the offending field.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    ensure_logging(settings.log_format)  # structured lines, unless the process set them up
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            ensure_at_head(engine)
        except Exception:
            log.error("refusing to start: the database is not ready", exc_info=True)
            raise
        yield
        engine.dispose()

    app = FastAPIOffline(
        title="relearn",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url="/docs/assets",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from the internet
        dependencies=[Depends(authenticate)],  # API keys on /v1 (app/api/auth.py)
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessionmaker(bind=engine, expire_on_commit=False)
    app.state.store = store_from_settings(settings)
    app.state.tasks = TaskQueue(settings=settings, celery=make_celery(settings))
    app.state.telemetry = Telemetry(app.state.sessions, multiprocess_dir())
    install_problem_handlers(app)
    install_openapi(app)  # typed errors, the API key, examples (app/openapi.py)
    app.add_middleware(JsonBodyLimit)
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestLog)
    for router in (
        health.router,
        models.router,
        architectures.router,
        chunks.router,
        jobs.router,
        events.router,
        versions.router,
        aliases.router,
        rollback.router,
        metrics.router,
        prometheus.router,
    ):
        app.include_router(router)
    install_ui(app)  # the dashboard at /ui (app/ui/static)
    return app
