"""Registry: unique live model names, deletion marker, promotion and retention policies,
aliases, rollback lineage (``parent``) and the version a rollback job restores.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("promotion", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("retention", sa.JSON(), nullable=True))
    # Names were not unique before: later duplicates get their id appended.
    conn = op.get_bind()
    seen: set[str] = set()
    rows = conn.execute(sa.text("SELECT id, name FROM models ORDER BY created_at, id")).all()
    for model_id, name in rows:
        if name in seen:
            conn.execute(
                sa.text("UPDATE models SET name = :name WHERE id = :id"),
                {"name": f"{name[:160]}-{model_id}", "id": model_id},
            )
        seen.add(name)
    op.create_index(
        "uq_models_live_name",
        "models",
        ["name"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("parent", sa.Integer(), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("source_version", sa.Integer(), nullable=True))
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("model_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("aliases")
    op.execute("DELETE FROM jobs WHERE kind = 'rollback'")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("source_version")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("parent")
    op.drop_index("uq_models_live_name", table_name="models")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("retention")
        batch.drop_column("promotion")
        batch.drop_column("deleted_at")
