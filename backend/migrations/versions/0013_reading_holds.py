"""Plausibility before money: held readings (quarantine) and each meter's rating.

Revision ID: 0013_reading_holds
Revises: 0012_prepaid_sweep_queue
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013_reading_holds'
down_revision: str | None = '0012_prepaid_sweep_queue'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rated_current_a', sa.SmallInteger(), server_default='60', nullable=False))
        batch_op.add_column(sa.Column('voltage_v', sa.SmallInteger(), server_default='220', nullable=False))
        batch_op.add_column(sa.Column('phases', sa.SmallInteger(), server_default='1', nullable=False))

    op.create_table('reading_holds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('meter_pk', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.String(length=32), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('quality', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('held', 'released', 'rejected', name='holdstatus', native_enum=False, length=16), nullable=False),
    sa.Column('held_at', sa.BigInteger(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_reading_holds_decided_by_users')),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_reading_holds_meter_pk_meters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reading_holds')),
    sa.UniqueConstraint('meter_pk', 'quantity', 'ts', name='uq_reading_holds_key')
    )
    op.create_index('ix_reading_holds_status_ts', 'reading_holds', ['status', 'ts'], unique=False)
    op.create_index(op.f('ix_reading_holds_meter_pk'), 'reading_holds', ['meter_pk'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reading_holds_meter_pk'), table_name='reading_holds')
    op.drop_index('ix_reading_holds_status_ts', table_name='reading_holds')
    op.drop_table('reading_holds')
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.drop_column('phases')
        batch_op.drop_column('voltage_v')
        batch_op.drop_column('rated_current_a')
