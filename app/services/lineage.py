"""A version's lineage: the chain of ``parent`` links from it back to version 0.

The accuracy matrix of a model follows the lineage of its latest version: its rows are the
versions on that chain that applied a chunk, oldest first, and its columns those chunks.
An update's parent is its base, a rollback's the version it restored, so after a rollback
to version n the chunks applied after n leave the matrix (the model no longer holds what
they taught, nor their replay samples), and the next update evaluates on the eval splits
of n's chunks and its own. The versions themselves, and their own metrics, stay as they
were.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ModelVersion


def chain(parents: Mapping[int, int | None], head: int) -> list[int]:
    """``head`` and its ancestors, oldest first. A version without a recorded parent (rows
    from before lineage was recorded) descends from the one before it."""
    numbers: list[int] = []
    number: int | None = head
    while number is not None and number in parents:
        numbers.append(number)
        parent = parents[number]
        if parent is None and number > 0:
            parent = number - 1
        # Parents are always older; anything else would be a broken row, not a chain.
        number = parent if parent is not None and parent < number else None
    return numbers[::-1]


def chunk_versions(session: Session, *, model_id: str, head: int) -> list[ModelVersion]:
    """The versions on ``head``'s lineage that applied a chunk, oldest first: the rows of
    the accuracy matrix as it stands at ``head``."""
    links = session.execute(
        select(ModelVersion.number, ModelVersion.parent, ModelVersion.chunk_id).where(
            ModelVersion.model_id == model_id
        )
    ).all()
    parents = {number: parent for number, parent, _ in links}
    with_chunk = {number for number, _, chunk_id in links if chunk_id is not None}
    wanted = [n for n in chain(parents, head) if n in with_chunk and n >= 1]
    if not wanted:
        return []
    rows = session.scalars(
        select(ModelVersion).where(
            ModelVersion.model_id == model_id, ModelVersion.number.in_(wanted)
        )
    )
    return sorted(rows, key=lambda v: v.number)
