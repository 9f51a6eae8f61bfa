"""Issued postpaid bills and their late fees (issue 18).

Revision ID: 0025_issued_bills
Revises: 0024_account_changes
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0025_issued_bills"
down_revision: str | None = '0024_account_changes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issued_bills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.Column("exact_cny", sa.String(length=48), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("energy_wh", sa.BigInteger(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_issued_bills_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_issued_bills_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_bills")),
        sa.UniqueConstraint("account_id", "month", "revision", name="uq_issued_bills_revision"),
        sa.UniqueConstraint("entry_id", name=op.f("uq_issued_bills_entry_id")),
        sa.UniqueConstraint("number", name=op.f("uq_issued_bills_number")),
    )
    op.create_index(
        op.f("ix_issued_bills_account_id"), "issued_bills", ["account_id"], unique=False
    )
    op.create_table(
        "bill_late_fees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bill_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("owed_fen", sa.BigInteger(), nullable=False),
        sa.Column("permille", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_bill_late_fees_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["issued_bills.id"], name=op.f("fk_bill_late_fees_bill_id_issued_bills")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_bill_late_fees_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_late_fees")),
        sa.UniqueConstraint("bill_id", "day", name="uq_bill_late_fees_day"),
        sa.UniqueConstraint("entry_id", name=op.f("uq_bill_late_fees_entry_id")),
    )
    op.create_index(
        op.f("ix_bill_late_fees_account_id"), "bill_late_fees", ["account_id"], unique=False
    )
    op.create_index(op.f("ix_bill_late_fees_bill_id"), "bill_late_fees", ["bill_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bill_late_fees_bill_id"), table_name="bill_late_fees")
    op.drop_index(op.f("ix_bill_late_fees_account_id"), table_name="bill_late_fees")
    op.drop_table("bill_late_fees")
    op.drop_index(op.f("ix_issued_bills_account_id"), table_name="issued_bills")
    op.drop_table("issued_bills")
