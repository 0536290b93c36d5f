"""The accuracy matrix of a model and its continual-learning summaries.

Row i of the matrix is version i+1's ``metrics["accuracy"]``; column j is the chunk that
produced version j+1. The worker writes, for the job of chunk seq s, one accuracy per
chunk of seq 1..s (in seq order, ``None`` where a chunk had no eval split) — every chunk
the model was sent so far, including any whose job failed or was cancelled. So entry k of
a version's list belongs to the chunk of seq k+1, and the columns pick the entries of the
chunks that produced versions. With no failed or cancelled jobs this is the list as is.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.continual_metrics import average_accuracy, backward_transfer, forgetting
from app.db.models import Chunk, ModelVersion
from app.schemas.metrics import ModelMetrics
from app.services.models import get_model


def model_metrics(*, session: Session, model_id: str) -> ModelMetrics:
    get_model(session=session, model_id=model_id)
    rows = session.execute(
        select(ModelVersion.metrics, Chunk.id, Chunk.seq)
        .join(Chunk, Chunk.id == ModelVersion.chunk_id)
        .where(ModelVersion.model_id == model_id, ModelVersion.number >= 1)
        .order_by(ModelVersion.number)
    ).all()
    chunk_ids = [chunk_id for _, chunk_id, _ in rows]
    column_seqs = [seq for _, _, seq in rows]
    matrix = [
        [_entry(metrics, seq) for seq in column_seqs[: i + 1]]
        for i, (metrics, _, _) in enumerate(rows)
    ]
    return ModelMetrics(
        chunk_ids=chunk_ids,
        accuracy_matrix=matrix,
        average_accuracy=average_accuracy(matrix),
        forgetting=forgetting(matrix),
        backward_transfer=backward_transfer(matrix),
    )


def _entry(metrics: dict[str, Any] | None, seq: int) -> float | None:
    """The accuracy on the chunk of this seq, if the version recorded a usable one."""
    accuracy = (metrics or {}).get("accuracy")
    if not isinstance(accuracy, list) or not 1 <= seq <= len(accuracy):
        return None
    value = accuracy[seq - 1]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
