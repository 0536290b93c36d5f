"""Hot path: a version's pt2 program may follow its publication.

No schema change: ``model_versions.pt2_sha256`` is nullable already, and null now means
"not exported yet" for every version (``worker/program_export.py``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
