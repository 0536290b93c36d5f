"""The model update lease: exclusive, renewable by its owner only, and it expires."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Model
from worker import lease


def make_model(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as session:
        model = Model(name="m", architecture={}, updater={}, training={})
        session.add(model)
        session.flush()
        return model.id


def test_one_owner_at_a_time_until_release(sessions: sessionmaker[Session]) -> None:
    model_id = make_model(sessions)
    with sessions.begin() as s:
        assert lease.try_acquire(session=s, model_id=model_id, owner="w1", seconds=60)
    with sessions.begin() as s:
        assert not lease.try_acquire(session=s, model_id=model_id, owner="w2", seconds=60)
        assert not lease.renew(session=s, model_id=model_id, owner="w2", seconds=60)
        assert lease.renew(session=s, model_id=model_id, owner="w1", seconds=60)
    with sessions.begin() as s:
        lease.release(session=s, model_id=model_id, owner="w2")  # not the owner: no effect
    with sessions.begin() as s:
        assert not lease.try_acquire(session=s, model_id=model_id, owner="w2", seconds=60)
        lease.release(session=s, model_id=model_id, owner="w1")
    with sessions.begin() as s:
        assert lease.try_acquire(session=s, model_id=model_id, owner="w2", seconds=60)


def test_an_expired_lease_is_taken_over_and_the_old_owner_cannot_renew(
    sessions: sessionmaker[Session],
) -> None:
    model_id = make_model(sessions)
    with sessions.begin() as s:
        assert lease.try_acquire(session=s, model_id=model_id, owner="dead", seconds=0.05)
    time.sleep(0.1)
    with sessions.begin() as s:
        assert lease.try_acquire(session=s, model_id=model_id, owner="alive", seconds=60)
    with sessions.begin() as s:
        assert not lease.renew(session=s, model_id=model_id, owner="dead", seconds=60)
