"""Registry lifecycle: rollback jobs, retention, storage bytes per model.

- ``models.job_count``: the model's queue places (jobs' ``seq``), apart from
  ``chunk_count`` (chunks' ``seq``), so that rollback and retry jobs take a place in the
  queue without leaving gaps in the chunks' numbers. Existing models start at their
  highest job ``seq``.
- ``models.storage_bytes``: bytes of the model's objects, kept up to date at upload,
  publish and prune. Existing models start from their chunks' and artifacts' sizes (the
  only sizes recorded before).
- ``model_versions.storage_bytes`` (the bytes of the version's objects) and
  ``model_versions.pruned_at`` / ``chunks.pruned_at``: set when retention removes them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("job_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("storage_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(
            sa.Column("storage_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE models SET job_count = COALESCE("
        "(SELECT MAX(jobs.seq) FROM jobs WHERE jobs.model_id = models.id), 0)"
    )
    op.execute("UPDATE model_versions SET storage_bytes = artifact_size")
    op.execute(
        "UPDATE models SET storage_bytes = "
        "COALESCE((SELECT SUM(chunks.size_bytes) FROM chunks "
        "WHERE chunks.model_id = models.id), 0) + "
        "COALESCE((SELECT SUM(model_versions.artifact_size) FROM model_versions "
        "WHERE model_versions.model_id = models.id), 0)"
    )
    for table, columns in (
        ("models", ("job_count", "storage_bytes")),
        ("model_versions", ("storage_bytes",)),
    ):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("pruned_at")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("pruned_at")
        batch.drop_column("storage_bytes")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("storage_bytes")
        batch.drop_column("job_count")
