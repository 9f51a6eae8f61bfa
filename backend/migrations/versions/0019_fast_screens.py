"""Indexes for the operators' lists at a utility's size: arrears and the disconnect queue
(accounts by kind and balance), offline meters (by online, status and last contact).

Revision ID: 0019_fast_screens
Revises: 0017_key_accounts
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019_fast_screens"
down_revision: str | None = '0017_key_accounts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_accounts_kind_balance", "accounts", ["kind", "balance_fen", "credit_limit_fen"]
    )
    op.create_index("ix_meters_offline", "meters", ["online", "status", "last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_meters_offline", table_name="meters")
    op.drop_index("ix_accounts_kind_balance", table_name="accounts")
