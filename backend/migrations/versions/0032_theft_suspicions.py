"""Suspected theft or fault (窃电/故障嫌疑): theft_suspicions, each with its inspection task.

Revision ID: 0032_theft_suspicions
Revises: 0031_agent_wills
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032_theft_suspicions"
down_revision: str | None = "0031_agent_wills"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "theft_suspicions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_pk", sa.Integer(), nullable=False),
        sa.Column("transformer_area_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("baseline_wh_per_day", sa.Integer(), nullable=False),
        sa.Column("recent_wh_per_day", sa.Integer(), nullable=False),
        sa.Column("loss_rate_before", sa.Float(), nullable=False),
        sa.Column("loss_rate_after", sa.Float(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_pk"], ["meters.id"], name=op.f("fk_theft_suspicions_meter_pk_meters")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["field_tasks.id"], name=op.f("fk_theft_suspicions_task_id_field_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["transformer_area_id"],
            ["transformer_areas.id"],
            name=op.f("fk_theft_suspicions_transformer_area_id_transformer_areas"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_theft_suspicions")),
        sa.UniqueConstraint("meter_pk", "day", name="uq_theft_suspicions_key"),
    )
    op.create_index(
        op.f("ix_theft_suspicions_meter_pk"), "theft_suspicions", ["meter_pk"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_theft_suspicions_meter_pk"), table_name="theft_suspicions")
    op.drop_table("theft_suspicions")
