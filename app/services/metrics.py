"""The accuracy matrix of a model and its continual-learning summaries.

The rows are the versions on the latest version's lineage that applied a chunk, oldest
first (``app/services/lineage.py``: after a rollback to version n, the chunks applied
after n leave the matrix); row i is the i-th such version's ``metrics["accuracy"]`` and
column j the chunk of the j-th. The worker writes, with each version, ``accuracy`` and
``chunk_ids``: one accuracy per chunk of its lineage, then its own (``None`` where a chunk
had no eval split). Chunks whose jobs failed or were cancelled produced no version and
have no column.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.orm import Session

from app.continual_metrics import average_accuracy, backward_transfer, forgetting
from app.schemas.metrics import ModelMetrics
from app.services.lineage import chunk_versions
from app.services.models import get_model


def model_metrics(*, session: Session, model_id: str) -> ModelMetrics:
    model = get_model(session=session, model_id=model_id)
    rows = [
        (v.metrics, str(v.chunk_id))
        for v in chunk_versions(session, model_id=model.id, head=model.latest_version)
    ]
    chunk_ids = [chunk_id for _, chunk_id in rows]
    matrix = [
        [_entry(metrics, chunk_id) for chunk_id in chunk_ids[: i + 1]]
        for i, (metrics, _) in enumerate(rows)
    ]
    return ModelMetrics(
        chunk_ids=chunk_ids,
        accuracy_matrix=matrix,
        average_accuracy=average_accuracy(matrix),
        forgetting=forgetting(matrix),
        backward_transfer=backward_transfer(matrix),
    )


def _entry(metrics: dict[str, Any] | None, chunk_id: str) -> float | None:
    """The accuracy on this chunk's eval split, if the version recorded a usable one."""
    metrics = metrics or {}
    accuracy, columns = metrics.get("accuracy"), metrics.get("chunk_ids")
    if not isinstance(accuracy, list) or not isinstance(columns, list):
        return None
    if chunk_id not in columns or columns.index(chunk_id) >= len(accuracy):
        return None
    value = accuracy[columns.index(chunk_id)]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
