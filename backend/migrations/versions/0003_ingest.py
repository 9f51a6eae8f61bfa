"""Ingestion: indexes for the writer's lookups (newer meter events, open sequence gaps).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # "is a newer relay_changed / online / offline event of this meter already stored?"
    op.create_index(
        "ix_meter_events_meter_kind_ts", "meter_events", ["meter_pk", "kind", "ts"], unique=False
    )
    # a late message looks up the open gaps of its agent and channel around its seq
    op.create_index(
        "ix_ingest_gaps_agent_channel",
        "ingest_gaps",
        ["agent_id", "channel", "last_missing"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_ingest_gaps_agent_channel", table_name="ingest_gaps")
    op.drop_index("ix_meter_events_meter_kind_ts", table_name="meter_events")
