"""The disconnect queue's candidates in a partial index: the accounts whose balance is below
minus their credit limit, by kind and balance. Its count read every prepaid account's entry of
ix_accounts_kind_balance to test the threshold (a column against a column, which no range
narrows); now it reads the tenth of them past their credit.

Revision ID: 0039_accounts_past_credit_index
Revises: 0038_meter_offline_index
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039_accounts_past_credit_index"
down_revision: str | None = "0038_meter_offline_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAST_CREDIT = "balance_fen < -credit_limit_fen"


def upgrade() -> None:
    op.create_index(
        "ix_accounts_past_credit", "accounts", ["kind", "balance_fen", "credit_limit_fen"],
        sqlite_where=sa.text(PAST_CREDIT), postgresql_where=sa.text(PAST_CREDIT),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_accounts_past_credit", table_name="accounts")
