"""A reading book's change log compacted: reading_books.changes_folded counts the change rows
folded away, so the log keeps only each book's newest row and its ETag stays what it was.

Revision ID: 0035_book_changes_folded
Revises: 0034_screens_at_scale
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035_book_changes_folded"
down_revision: str | None = "0034_screens_at_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reading_books",
        sa.Column("changes_folded", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("reading_books") as batch:
        batch.drop_column("changes_folded")
