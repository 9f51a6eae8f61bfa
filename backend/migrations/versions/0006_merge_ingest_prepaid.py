"""Join the two lines of migrations: ingestion (0003) and consumption + prepaid (0004, 0005).

Both grew from 0002 in parallel; their tables do not overlap, so the merge changes nothing.

Revision ID: 0006
Revises: 0003, 0005
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0003", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
