"""API keys and tenants: the api_keys table (sha256 of each key, never the key) and the
tenant of each model (models from before this revision belong to the default tenant).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant"])
    with op.batch_alter_table("models") as batch:
        batch.add_column(
            sa.Column("tenant", sa.String(100), nullable=False, server_default="default")
        )
    with op.batch_alter_table("models") as batch:
        batch.alter_column("tenant", server_default=None)
    op.create_index("ix_models_tenant", "models", ["tenant"])


def downgrade() -> None:
    op.drop_index("ix_models_tenant", table_name="models")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("tenant")
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.drop_table("api_keys")
