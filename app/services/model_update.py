"""Changing a model's registry settings: its promotion gate and its retention.

The architecture, updater and training settings stay as registered (versions were made
with them); the gate applies from the next job's publish, the retention from the
reconciler's next round.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db.models import Model
from app.schemas.models import ModelUpdate
from app.services.models import get_model


def update_model(*, session: Session, model_id: str, body: ModelUpdate) -> Model:
    model = get_model(session=session, model_id=model_id)
    given = body.model_fields_set
    if "promotion" in given:
        model.promotion = body.promotion.model_dump() if body.promotion else None
    if "retention" in given:
        model.retention = body.retention.model_dump() if body.retention else None
    session.commit()
    return model
