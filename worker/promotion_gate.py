"""The promotion gate as the worker applies it, inside a publish transaction: the model's
policy (``app/promotion.py``) decided on the accuracy matrix along the new version's
lineage (``app/services/lineage.py``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db.models import Model
from app.promotion import Decision, decide
from app.services.lineage import chunk_versions


def promotion_gate(
    session: Session, model_id: str, row: list[float | None] | None, head: int | None = None
) -> tuple[str, Decision] | None:
    """The model's gate alias and its decision on the accuracy matrix at version ``head``
    (default: the latest), completed by the new ``row`` where one is given (an update;
    a rollback adds none); None without a gate."""
    model = session.get(Model, model_id)
    if model is None or not model.promotion:
        return None
    lineage = chunk_versions(
        session, model_id=model_id, head=model.latest_version if head is None else head
    )
    matrix = [list(v.metrics.get("accuracy") or []) for v in lineage]
    if row is not None:
        matrix.append(list(row))
    return str(model.promotion["alias"]), decide(model.promotion, matrix)
