"""Which exceptions are the infrastructure's fault, not the job's.

An unreachable or failing database, object store or broker says nothing about the job:
the job waits (retried with backoff, ``worker/tasks.py``) for as long as the fault lasts,
and the attempt does not count against it. Anything else may be the job's own doing
(a bug it triggers, memory it exhausts) and counts.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.storage import StorageUnavailable

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    StorageUnavailable,
    ConnectionError,  # refused, reset, broken pipe (redis-py's ConnectionError is one)
    TimeoutError,
    DisconnectionError,
    PoolTimeoutError,
)


def _optional_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    try:
        from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]

        found.append(BotoCoreError)  # endpoint unreachable, read timeouts, ...
    except ImportError:
        pass
    try:
        from kombu.exceptions import OperationalError as BrokerError

        found.append(BrokerError)
    except ImportError:
        pass
    try:
        import redis

        found.append(redis.exceptions.ConnectionError)
        found.append(redis.exceptions.TimeoutError)
    except ImportError:
        pass
    return tuple(found)


INFRASTRUCTURE_ERRORS += _optional_errors()


def is_infrastructure_fault(exc: BaseException) -> bool:
    """True for a fault of the database, store or broker, also when wrapped (``raise
    ... from``) by the code that met it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, INFRASTRUCTURE_ERRORS):
            return True
        if isinstance(current, DBAPIError) and (
            current.connection_invalidated or _is_operational(current)
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_operational(exc: DBAPIError) -> bool:
    """SQLAlchemy's OperationalError/InterfaceError: lost connection, server gone, locked
    database. (IntegrityError and friends are about the data, not the server.)"""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)
