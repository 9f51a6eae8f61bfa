"""Consumption: daily materialised consumption, register anomalies, refresh tokens.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consumption_daily',
    sa.Column('meter_pk', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('wh', sa.BigInteger(), nullable=False),
    sa.Column('first_ts', sa.BigInteger(), nullable=False),
    sa.Column('last_ts', sa.BigInteger(), nullable=False),
    sa.Column('first_value', sa.BigInteger(), nullable=False),
    sa.Column('last_value', sa.BigInteger(), nullable=False),
    sa.Column('through_ts', sa.BigInteger(), nullable=False),
    sa.Column('intervals', sa.Integer(), nullable=False),
    sa.Column('rollovers', sa.Integer(), nullable=False),
    sa.Column('anomalies', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_consumption_daily_meter_pk_meters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('meter_pk', 'quantity', 'day', name='pk_consumption_daily')
    )
    op.create_index('ix_consumption_daily_day', 'consumption_daily', ['day'], unique=False)

    op.create_table('consumption_anomalies',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('meter_pk', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('previous_ts', sa.BigInteger(), nullable=False),
    sa.Column('previous_value', sa.BigInteger(), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_consumption_anomalies_meter_pk_meters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consumption_anomalies')),
    sa.UniqueConstraint('meter_pk', 'quantity', 'ts', name='uq_consumption_anomalies_key')
    )
    op.create_index(op.f('ix_consumption_anomalies_meter_pk'), 'consumption_anomalies', ['meter_pk'], unique=False)
    op.create_index(op.f('ix_consumption_anomalies_ts'), 'consumption_anomalies', ['ts'], unique=False)

    op.create_table('refresh_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_refresh_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_refresh_tokens_token_hash'))
    )
    op.create_index(op.f('ix_refresh_tokens_family'), 'refresh_tokens', ['family'], unique=False)
    op.create_index(op.f('ix_refresh_tokens_user_id'), 'refresh_tokens', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_refresh_tokens_user_id'), table_name='refresh_tokens')
    op.drop_index(op.f('ix_refresh_tokens_family'), table_name='refresh_tokens')
    op.drop_table('refresh_tokens')
    op.drop_index(op.f('ix_consumption_anomalies_ts'), table_name='consumption_anomalies')
    op.drop_index(op.f('ix_consumption_anomalies_meter_pk'), table_name='consumption_anomalies')
    op.drop_table('consumption_anomalies')
    op.drop_index('ix_consumption_daily_day', table_name='consumption_daily')
    op.drop_table('consumption_daily')
