"""Outages found from the meters, continued: feeder outages joining several areas' outages, the
signal each meter's part came from, the fault notice and the service-desk work order opened for
an outage (made by the system: ``created_by`` may be empty on those).

Revision ID: 0026_outage_orders
Revises: 0025_issued_bills
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0026_outage_orders"
down_revision: str | None = '0025_issued_bills'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feeder_outages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("areas", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feeder_id"], ["feeders.id"], name=op.f("fk_feeder_outages_feeder_id_feeders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeder_outages")),
    )
    op.create_index(
        "ix_feeder_outages_open", "feeder_outages", ["feeder_id", "ended_at"], unique=False
    )
    with op.batch_alter_table("area_outages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feeder_outage_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fault_notice_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("work_order_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_area_outages_feeder_outage_id"), ["feeder_outage_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_area_outages_feeder_outage_id_feeder_outages"),
            "feeder_outages",
            ["feeder_outage_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_area_outages_fault_notice_id_outage_notices"),
            "outage_notices",
            ["fault_notice_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_area_outages_work_order_id_work_orders"),
            "work_orders",
            ["work_order_id"],
            ["id"],
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_area_outages_work_order_id"), ["work_order_id"]
        )
    with op.batch_alter_table("area_outage_meters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="bus_silent")
        )
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.alter_column("created_by", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("outage_notices", schema=None) as batch_op:
        batch_op.alter_column("created_by", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("outage_notices", schema=None) as batch_op:
        batch_op.alter_column("created_by", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.alter_column("created_by", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("area_outage_meters", schema=None) as batch_op:
        batch_op.drop_column("source")
    with op.batch_alter_table("area_outages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_area_outages_work_order_id"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_area_outages_work_order_id_work_orders"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_area_outages_fault_notice_id_outage_notices"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_area_outages_feeder_outage_id_feeder_outages"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_area_outages_feeder_outage_id"))
        batch_op.drop_column("work_order_id")
        batch_op.drop_column("fault_notice_id")
        batch_op.drop_column("feeder_outage_id")
    op.drop_index("ix_feeder_outages_open", table_name="feeder_outages")
    op.drop_table("feeder_outages")
