"""The model's update lease, taken, renewed and released each in its own transaction (the
conditional UPDATEs are ``worker.lease``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from worker import lease


@dataclass(frozen=True)
class LeaseQueries:
    """The lease's transactions."""

    sessions: sessionmaker[Session]

    def take_lease(self, *, model_id: str, owner: str, seconds: float) -> bool:
        with self.sessions.begin() as session:
            return lease.try_acquire(
                session=session, model_id=model_id, owner=owner, seconds=seconds
            )

    def release_lease(self, *, model_id: str, owner: str) -> None:
        with self.sessions.begin() as session:
            lease.release(session=session, model_id=model_id, owner=owner)

    def renew_lease(self, *, model_id: str, owner: str, seconds: float) -> bool:
        with self.sessions.begin() as session:
            return lease.renew(session=session, model_id=model_id, owner=owner, seconds=seconds)
