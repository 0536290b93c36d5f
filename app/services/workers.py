"""Who is alive: the workers whose heartbeat (``workers.last_seen``, refreshed every ten
seconds by ``worker/heartbeat.py``) is recent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Worker, utcnow

# Three missed heartbeats: a worker busy training still beats (from a thread of its own).
ALIVE_WITHIN = timedelta(seconds=30)


@dataclass(frozen=True)
class Liveness:
    alive: int
    last_seen_seconds_ago: float | None
    """Since the most recent heartbeat of any worker; None if none was ever recorded."""


def liveness(*, session: Session) -> Liveness:
    now = utcnow()
    alive, last = session.execute(
        select(
            func.count().filter(Worker.last_seen >= now - ALIVE_WITHIN),
            func.max(Worker.last_seen),
        )
    ).one()
    return Liveness(
        alive=int(alive or 0),
        last_seen_seconds_ago=None if last is None else max(0.0, (now - last).total_seconds()),
    )
