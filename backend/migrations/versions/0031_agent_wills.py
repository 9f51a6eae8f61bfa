"""Outages: an agent's last will judged by the correlator (area_agent_wills, agents.died_at),
and one fault work order per feeder outage (feeder_outages.work_order_id).

Revision ID: 0031_agent_wills
Revises: 0029_value_tags
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0031_agent_wills'
down_revision: str | None = '0029_value_tags'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('died_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('feeder_outages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('work_order_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_feeder_outages_work_order_id_work_orders'), 'work_orders',
            ['work_order_id'], ['id'],
        )
        batch_op.create_unique_constraint(
            batch_op.f('uq_feeder_outages_work_order_id'), ['work_order_id']
        )
    op.create_table(
        'area_agent_wills',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agent_id', sa.String(length=64), nullable=False),
        sa.Column('died_at', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.Enum('pending', 'joined', 'lone', 'back', name='willstate', native_enum=False, length=16), nullable=False),
        sa.Column('meters', sa.Integer(), nullable=False),
        sa.Column('back_at', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_area_agent_wills_agent_id_agents'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_area_agent_wills')),
        sa.UniqueConstraint('agent_id', 'died_at', name='uq_area_agent_wills_once'),
    )
    op.create_index('ix_area_agent_wills_state', 'area_agent_wills', ['state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_area_agent_wills_state', table_name='area_agent_wills')
    op.drop_table('area_agent_wills')
    with op.batch_alter_table('feeder_outages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_feeder_outages_work_order_id'), type_='unique')
        batch_op.drop_constraint(
            batch_op.f('fk_feeder_outages_work_order_id_work_orders'), type_='foreignkey'
        )
        batch_op.drop_column('work_order_id')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('died_at')
