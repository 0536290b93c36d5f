"""Architectures and version 0 made by a worker: model status/error and uploaded initial
weights, job kinds (an initialise job has no chunk), and the workers table (heartbeat and
the architectures each worker can build).

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Models and jobs from before this revision have their version 0 and apply chunks.
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="ready"))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("initial_weights_key", sa.String(500), nullable=True))
    with op.batch_alter_table("models") as batch:
        batch.alter_column("status", server_default=None)
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="update"))
        batch.alter_column("chunk_id", existing_type=sa.String(32), nullable=True)
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("kind", server_default=None)
    op.create_table(
        "workers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("architectures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_workers_last_seen", "workers", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_workers_last_seen", table_name="workers")
    op.drop_table("workers")
    op.execute("DELETE FROM jobs WHERE chunk_id IS NULL")
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("chunk_id", existing_type=sa.String(32), nullable=False)
        batch.drop_column("kind")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("initial_weights_key")
        batch.drop_column("error")
        batch.drop_column("status")
