"""An account's supply read from an index: meters (account_id, status, relay_state) replaces the
index on account_id alone, so the disconnect queue's "supply still on" test, run for every
account past its threshold, never reads a meter row.

Revision ID: 0037_meter_supply_index
Revises: 0036_customer_phone_index
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0037_meter_supply_index"
down_revision: str | None = "0036_customer_phone_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_meters_account_supply", "meters", ["account_id", "status", "relay_state"]
    )
    op.drop_index("ix_meters_account_id", table_name="meters")


def downgrade() -> None:
    op.create_index("ix_meters_account_id", "meters", ["account_id"])
    op.drop_index("ix_meters_account_supply", table_name="meters")
