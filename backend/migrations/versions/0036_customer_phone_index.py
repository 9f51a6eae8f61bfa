"""Customers found by phone: an index on customers.phone, for the 95598 intake's search (a caller
is looked up by the number the call comes from).

Revision ID: 0036_customer_phone_index
Revises: 0035_book_changes_folded
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0036_customer_phone_index"
down_revision: str | None = "0035_book_changes_folded"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_customers_phone", "customers", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_customers_phone", table_name="customers")
