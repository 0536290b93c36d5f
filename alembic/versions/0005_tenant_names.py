"""Model names unique per tenant (among live models): the name index of 0003 becomes
(tenant, name) now that models have a tenant (0004).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.drop_index("uq_models_live_name", table_name="models")
    op.create_index(
        "uq_models_live_tenant_name",
        "models",
        ["tenant", "name"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_models_live_tenant_name", table_name="models")
    op.create_index(
        "uq_models_live_name",
        "models",
        ["name"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
