"""The offline meters' list from its index: ix_meters_offline gains the protocol, so the list's
test "reports remotely" (not a manual meter) and its count are read from the index instead of
every offline meter's row — at 200,000 meters a tenth are manual and always offline.

Revision ID: 0038_meter_offline_index
Revises: 0037_meter_supply_index
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0038_meter_offline_index"
down_revision: str | None = "0037_meter_supply_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_meters_offline", table_name="meters")
    op.create_index(
        "ix_meters_offline", "meters", ["online", "status", "protocol", "last_seen_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_meters_offline", table_name="meters")
    op.create_index("ix_meters_offline", "meters", ["online", "status", "last_seen_at"])
