"""Payments: orders that only a provider's signed notification credits, and every
notification received with its outcome (refused ones counted by reason).

Revision ID: 0009_payments
Revises: 0008_text_codes
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009_payments'
down_revision: str | None = '0008_text_codes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('payment_notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('provider', sa.Enum('wechat', 'alipay', 'simulated', name='paymentprovider', native_enum=False, length=16), nullable=False),
    sa.Column('outcome', sa.Enum('credited', 'duplicate', 'rejected', name='notificationoutcome', native_enum=False, length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('order_no', sa.String(length=64), nullable=True),
    sa.Column('replay_key', sa.String(length=160), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_notifications')),
    sa.UniqueConstraint('provider', 'replay_key', name='uq_payment_notifications_replay')
    )
    with op.batch_alter_table('payment_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_payment_notifications_outcome_reason', ['outcome', 'reason'], unique=False)

    op.create_table('payment_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_no', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.Enum('counter', 'bank', 'wechat', 'alipay', 'app', name='channel', native_enum=False, length=16), nullable=False),
    sa.Column('provider', sa.Enum('wechat', 'alipay', 'simulated', name='paymentprovider', native_enum=False, length=16), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'paid', 'expired', name='orderstatus', native_enum=False, length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_txn_id', sa.String(length=64), nullable=True),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('receipt_number', sa.String(length=32), nullable=True),
    sa.Column('balance_after_fen', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_payment_orders_account_id_accounts')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_payment_orders_customer_id_customers')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_payment_orders_entry_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_orders')),
    sa.UniqueConstraint('customer_id', 'idempotency_key', name='uq_payment_orders_customer_key'),
    sa.UniqueConstraint('order_no', name=op.f('uq_payment_orders_order_no')),
    sa.UniqueConstraint('provider', 'provider_txn_id', name='uq_payment_orders_provider_txn'),
    sa.UniqueConstraint('receipt_number', name=op.f('uq_payment_orders_receipt_number'))
    )
    with op.batch_alter_table('payment_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_orders_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_payment_orders_status_paid_at', ['status', 'paid_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payment_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_orders_status_paid_at')
        batch_op.drop_index(batch_op.f('ix_payment_orders_account_id'))

    op.drop_table('payment_orders')
    with op.batch_alter_table('payment_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_notifications_outcome_reason')

    op.drop_table('payment_notifications')
