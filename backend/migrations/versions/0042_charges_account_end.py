"""An account's live charges by where they end: the spend rate's reads.

The days of credit left (``backend.prepaid.spend``) take the live charges that *end* in the
last 24 hours or 7 days — the prepaid sweep for every account it examines, the balance view
for one. ``ix_charges_account_live`` orders an account's charges by their start, which bounds
nothing here (a charge may start long before it ends): each read went through every live
charge the account ever had, 35,000 a year for one meter read every quarter hour, and the
sweep's time grew with the ledger. On this index the read is the window's charges alone. A
charge row now updates four indexes.

Revision ID: 0042_charges_account_end
Revises: 0041_charges_by_entry
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0042_charges_account_end"
down_revision: str | None = "0041_charges_by_entry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_charges_account_live_end", "charges", ["account_id", "reversed_at", "end_ms"]
    )


def downgrade() -> None:
    op.drop_index("ix_charges_account_live_end", table_name="charges")
