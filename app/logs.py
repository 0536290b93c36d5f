"""Structured logs for the API and the worker: one line per event, through structlog.

JSON lines when stderr is not a terminal (a service manager, a container, a pipe) or when
``RELEARN_LOG_FORMAT=json``; ``key=value`` lines on a terminal or with
``RELEARN_LOG_FORMAT=keyvalue`` (the settings' ``log_format``, which callers pass in).
The standard library's loggers (uvicorn, Celery, SQLAlchemy, ours) go through the same
formatter, and every line carries the context bound with ``bound(...)``: the worker binds
``model_id`` and ``job_id`` around each job, so a job's lines can be found by its id
whichever module wrote them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import structlog

LogFormat = Literal["auto", "json", "keyvalue"]
KEY_ORDER = ["timestamp", "level", "event", "logger"]
HANDLER_NAME = "relearn"


def is_json(chosen: LogFormat, stream: TextIO) -> bool:
    return chosen == "json" or (chosen == "auto" and not stream.isatty())


def configure_logging(
    level: str | int = "INFO", stream: TextIO | None = None, log_format: LogFormat = "auto"
) -> None:
    """Route every logger to one handler on ``stream`` (default stderr), structured.
    ``log_format`` is the settings' ``log_format`` (``RELEARN_LOG_FORMAT``)."""
    stream = stream or sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if is_json(log_format, stream)
        else structlog.processors.LogfmtRenderer(key_order=KEY_ORDER, drop_missing=True)
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(previous)  # configured again (a test, a second serve)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl..." per check
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # Under `uvicorn --factory` its own config gave these handlers of their own.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # app/api/request_log.py writes one structured line per request instead.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *[p for p in shared if not isinstance(p, structlog.stdlib.ExtraAdder)],
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def ensure_logging(log_format: LogFormat = "auto") -> None:
    """``configure_logging()`` unless this process did already (``relearn serve`` and the
    worker configure at start; an app made by ``uvicorn --factory`` does it here)."""
    if not any(h.get_name() == HANDLER_NAME for h in logging.getLogger().handlers):
        configure_logging(log_format=log_format)


def drop_color_message(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """uvicorn passes its message again with terminal colours as an extra."""
    event.pop("color_message", None)
    return event


@contextmanager
def bound(**ids: str | int | None) -> Iterator[None]:
    """Every line logged inside the block (in this thread or task) carries ``ids``."""
    with structlog.contextvars.bound_contextvars(**ids):
        yield
