"""What can be built: the built-ins, and the entry-point architectures that workers
announced (``workers`` rows, refreshed by each worker's heartbeat).

A name stays known for ``ANNOUNCED_WITHIN`` after the last worker that announced it was
seen, so a worker restart does not make registrations fail in between.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.architectures import BUILTINS, AnnouncedArchitecture
from app.db.models import Worker, utcnow
from app.schemas.architectures import ArchitecturePublic

ANNOUNCED_WITHIN = timedelta(minutes=10)


def announced_architectures(*, session: Session) -> dict[str, AnnouncedArchitecture]:
    """Entry-point architectures of workers seen recently; where workers disagree on a
    name's schema, the one seen last wins."""
    rows = session.scalars(
        select(Worker)
        .where(Worker.last_seen >= utcnow() - ANNOUNCED_WITHIN)
        .order_by(Worker.last_seen.desc(), Worker.id)
    )
    found: dict[str, AnnouncedArchitecture] = {}
    for worker in rows:
        for item in worker.architectures:
            name, schema = item.get("name"), item.get("params_schema")
            if (
                item.get("source") == "entry-point"
                and isinstance(name, str)
                and isinstance(schema, dict)
                and name not in BUILTINS
                and name not in found
            ):
                found[name] = AnnouncedArchitecture(name=name, params_schema=schema)
    return found


def list_architectures(*, session: Session) -> list[ArchitecturePublic]:
    builtins = [
        ArchitecturePublic(
            name=name, params_schema=record.params.model_json_schema(), source="builtin"
        )
        for name, record in BUILTINS.items()
    ]
    announced = [
        ArchitecturePublic(name=a.name, params_schema=a.params_schema, source="entry-point")
        for a in sorted(announced_architectures(session=session).values(), key=lambda a: a.name)
    ]
    return builtins + announced
