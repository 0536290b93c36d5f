"""The workers table: what each worker can build, and its heartbeat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Worker, utcnow


@dataclass(frozen=True)
class WorkerQueries:
    """The workers table's transactions."""

    sessions: sessionmaker[Session]

    def record_worker(
        self, *, worker_id: str, hostname: str, architectures: list[dict[str, Any]]
    ) -> None:
        """Insert this worker's row, or refresh its ``last_seen`` and announcement."""
        with self.sessions.begin() as session:
            row = session.get(Worker, worker_id)
            if row is None:
                session.add(Worker(id=worker_id, hostname=hostname, architectures=architectures))
            else:
                row.last_seen = utcnow()
                row.architectures = architectures

    def forget_workers(self, *, unseen_for: timedelta) -> int:
        """Delete the rows of workers not seen for ``unseen_for`` (long gone)."""
        with self.sessions.begin() as session:
            result = cast(
                CursorResult[Any],
                session.execute(delete(Worker).where(Worker.last_seen < utcnow() - unseen_for)),
            )
            return result.rowcount
