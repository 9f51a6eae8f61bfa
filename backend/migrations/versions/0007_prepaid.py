"""Prepaid: tariffs, ledger, charges and billing state, top-ups, notices and warning
episodes, remote commands with their audit trail and approval batches.

Revision ID: 0007
Revises: 0006 (field work; re-chained after the other branches' migrations at merge)
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('command_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('disconnect', 'reconnect', 'arm_reconnect', 'read_now', 'time_sync', name='commandkind', native_enum=False, length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_command_batches'))
    )
    op.create_table('tariffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.Enum('residential', 'non_residential_lighting', 'general_industry', 'large_industry', 'agricultural', 'commercial', name='customercategory', native_enum=False, length=32), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tariffs')),
    sa.UniqueConstraint('category', 'effective_from', name='uq_tariffs_category_effective'),
    sa.UniqueConstraint('code', name=op.f('uq_tariffs_code'))
    )
    op.create_table('billing_states',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('exact_total_cny', sa.String(length=48), nullable=False),
    sa.Column('posted_fen', sa.BigInteger(), nullable=False),
    sa.Column('billed_through_ms', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_billing_states_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_billing_states'))
    )
    op.create_table('ledger_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('top_up', 'consumption_charge', 'adjustment', 'refund', 'reversal', name='entrykind', native_enum=False, length=24), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('balance_after_fen', sa.BigInteger(), nullable=False),
    sa.Column('exact_cny', sa.String(length=48), nullable=True),
    sa.Column('reverses_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('memo', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_ledger_entries_account_id_accounts')),
    sa.ForeignKeyConstraint(['reverses_id'], ['ledger_entries.id'], name=op.f('fk_ledger_entries_reverses_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_ledger_entries_reverses_id'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_account_id_id', ['account_id', 'id'], unique=False)

    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('low_balance', 'disconnect_warning', 'disconnected', 'restored', name='noticekind', native_enum=False, length=24), nullable=False),
    sa.Column('channel', sa.Enum('sms', 'wechat', 'app', name='noticechannel', native_enum=False, length=16), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('planned_disconnect_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('balance_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sent', 'delivered', 'failed', name='noticestatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('provider_ref', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_notices_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
    sa.UniqueConstraint('account_id', 'episode', 'kind', 'channel', name='uq_notices_once')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_notices_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('warning_episodes',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('open', sa.Boolean(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_warning_episodes_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_warning_episodes'))
    )
    op.create_table('charges',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('meter_pk', sa.Integer(), nullable=False),
    sa.Column('start_ms', sa.BigInteger(), nullable=False),
    sa.Column('end_ms', sa.BigInteger(), nullable=False),
    sa.Column('wh', sa.BigInteger(), nullable=False),
    sa.Column('exact_cny', sa.String(length=48), nullable=False),
    sa.Column('lines', sa.Text(), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_charges_account_id_accounts')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_charges_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_charges_meter_pk_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charges'))
    )
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.create_index('ix_charges_account_live', ['account_id', 'reversed_at', 'start_ms'], unique=False)
        batch_op.create_index('ix_charges_meter_start', ['meter_pk', 'start_ms'], unique=False)

    op.create_table('commands',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('meter_pk', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('disconnect', 'reconnect', 'arm_reconnect', 'read_now', 'time_sync', name='commandkind', native_enum=False, length=16), nullable=False),
    sa.Column('state', sa.Enum('awaiting_approval', 'queued', 'dispatched', 'received', 'executed', 'verified', 'failed', 'expired', 'refused', 'rejected', 'cancelled', name='state', native_enum=False, length=24), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('approver', sa.String(length=64), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expected_relay_state', sa.SmallInteger(), nullable=True),
    sa.Column('readback_relay_state', sa.SmallInteger(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('restored_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_commands_account_id_accounts')),
    sa.ForeignKeyConstraint(['batch_id'], ['command_batches.id'], name=op.f('fk_commands_batch_id_command_batches')),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_commands_meter_pk_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commands'))
    )
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commands_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_commands_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index('ix_commands_meter_pk_created_at', ['meter_pk', 'created_at'], unique=False)
        batch_op.create_index('ix_commands_state_not_after', ['state', 'not_after'], unique=False)

    op.create_table('topups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('in_progress', 'completed', 'failed', name='topupstatus', native_enum=False, length=16), nullable=False),
    sa.Column('channel', sa.Enum('counter', 'bank', 'wechat', 'alipay', 'app', name='channel', native_enum=False, length=16), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('receipt_number', sa.String(length=32), nullable=True),
    sa.Column('response_status', sa.SmallInteger(), nullable=True),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_topups_account_id_accounts')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_topups_customer_id_customers')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_topups_entry_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topups')),
    sa.UniqueConstraint('customer_id', 'idempotency_key', name='uq_topups_customer_key'),
    sa.UniqueConstraint('receipt_number', name=op.f('uq_topups_receipt_number'))
    )
    with op.batch_alter_table('topups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_topups_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_topups_completed_at'), ['completed_at'], unique=False)

    op.create_table('command_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('command_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=24), nullable=False),
    sa.Column('from_state', sa.String(length=24), nullable=True),
    sa.Column('to_state', sa.String(length=24), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['command_id'], ['commands.id'], name=op.f('fk_command_audit_command_id_commands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_command_audit'))
    )
    with op.batch_alter_table('command_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_command_audit_command_id'), ['command_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('command_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_command_audit_command_id'))

    op.drop_table('command_audit')
    with op.batch_alter_table('topups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_topups_completed_at'))
        batch_op.drop_index(batch_op.f('ix_topups_account_id'))

    op.drop_table('topups')
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_index('ix_commands_state_not_after')
        batch_op.drop_index('ix_commands_meter_pk_created_at')
        batch_op.drop_index(batch_op.f('ix_commands_batch_id'))
        batch_op.drop_index(batch_op.f('ix_commands_account_id'))

    op.drop_table('commands')
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_index('ix_charges_meter_start')
        batch_op.drop_index('ix_charges_account_live')

    op.drop_table('charges')
    op.drop_table('warning_episodes')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index('ix_notices_status_created_at')
        batch_op.drop_index(batch_op.f('ix_notices_account_id'))

    op.drop_table('notices')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_account_id_id')

    op.drop_table('ledger_entries')
    op.drop_table('billing_states')
    op.drop_table('tariffs')
    op.drop_table('command_batches')
