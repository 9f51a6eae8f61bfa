"""The tier counters kept in the billing state: billing_states.tier_counters.

Null (every existing row) means "not kept": the next billing round sums them from the live
charges once and keeps them from then on.

Revision ID: 0033_tier_counters
Revises: 0032_theft_suspicions
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033_tier_counters"
down_revision: str | None = "0032_theft_suspicions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("billing_states", sa.Column("tier_counters", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_states") as batch:
        batch.drop_column("tier_counters")
