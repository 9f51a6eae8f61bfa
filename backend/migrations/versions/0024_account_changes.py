"""The customer's lifecycle after energisation: the account change log (改类, 销户, 过户) and the
closing of an account.

Revision ID: 0024_account_changes
Revises: 0023_expansion
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0024_account_changes'
down_revision: str | None = '0023_expansion'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'account_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('category', 'closure', 'ownership', name='changekind', native_enum=False, length=16), nullable=False),
        sa.Column('status', sa.Enum('requested', 'applied', 'rejected', name='changestatus', native_enum=False, length=16), nullable=False),
        sa.Column('effective_from', sa.Date(), nullable=False),
        sa.Column('before', sa.JSON(), nullable=False),
        sa.Column('after', sa.JSON(), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('requested_by', sa.Integer(), nullable=False),
        sa.Column('idempotency_key', sa.String(length=128), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_changes_account_id_accounts')),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_account_changes_decided_by_users')),
        sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'], name=op.f('fk_account_changes_order_id_work_orders')),
        sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_account_changes_requested_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_changes')),
        sa.UniqueConstraint('requested_by', 'idempotency_key', name='uq_account_changes_idempotency'),
    )
    op.create_index('ix_account_changes_account_kind', 'account_changes', ['account_id', 'kind', 'status'], unique=False)
    op.create_index(op.f('ix_account_changes_order_id'), 'account_changes', ['order_id'], unique=False)
    # a plain ADD COLUMN: a batch copy of accounts would trip the sweep triggers on SQLite
    op.add_column('accounts', sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('accounts', 'closed_at')
    op.drop_index(op.f('ix_account_changes_order_id'), table_name='account_changes')
    op.drop_index('ix_account_changes_account_kind', table_name='account_changes')
    op.drop_table('account_changes')
