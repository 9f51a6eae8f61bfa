"""The incremental prepaid sweep: a queue of accounts whose inputs changed (filled by triggers
wherever a balance, a credit limit, a relay, a meter's account, a protected flag, a delivered
disconnect warning or a command's state changes), the time-driven due times, and the settings
the last sweep decided with.

Revision ID: 0012_prepaid_sweep_queue
Revises: 0011_disconnect_approval (re-chained after the other branches' migrations at merge)
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012_prepaid_sweep_queue'
down_revision: str | None = '0011_disconnect_approval'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Q = 'prepaid_sweep_queue'

# (trigger name, table, event, condition, the account ids it queues as a SELECT or a value)
# Insert-only: a trigger never updates a shared row, so a top-up, a relay read-back or a
# delivery never waits on the sweep (nor the sweep on them).
TRIGGERS = [
    ('sweep_q_account_new', 'accounts', 'INSERT', None, 'NEW.id'),
    ('sweep_q_account', 'accounts', 'UPDATE OF balance_fen, credit_limit_fen, kind',
     'NEW.balance_fen <> OLD.balance_fen OR NEW.credit_limit_fen <> OLD.credit_limit_fen'
     ' OR NEW.kind <> OLD.kind', 'NEW.id'),
    ('sweep_q_customer', 'customers', 'UPDATE OF protected, key_account_class',
     'NEW.protected <> OLD.protected'
     ' OR COALESCE(NEW.key_account_class, 0) <> COALESCE(OLD.key_account_class, 0)',
     'SELECT id FROM accounts WHERE customer_id = NEW.id'),
    ('sweep_q_meter_new', 'meters', 'INSERT', 'NEW.account_id IS NOT NULL', 'NEW.account_id'),
    ('sweep_q_meter', 'meters', 'UPDATE OF relay_state, status, account_id',
     'COALESCE(NEW.relay_state, -1) <> COALESCE(OLD.relay_state, -1)'
     ' OR NEW.status <> OLD.status'
     ' OR COALESCE(NEW.account_id, 0) <> COALESCE(OLD.account_id, 0)',
     'SELECT NEW.account_id WHERE NEW.account_id IS NOT NULL'
     ' UNION SELECT OLD.account_id WHERE OLD.account_id IS NOT NULL'),
    ('sweep_q_warning', 'notices', 'UPDATE OF status',
     "NEW.kind = 'disconnect_warning' AND NEW.status = 'delivered' AND OLD.status <> 'delivered'",
     'NEW.account_id'),
    ('sweep_q_command', 'commands', 'UPDATE OF state',
     'NEW.account_id IS NOT NULL AND NEW.state <> OLD.state', 'NEW.account_id'),
]


def _insert(accounts: str) -> str:
    if accounts.startswith('SELECT'):
        return f'INSERT INTO {Q} (account_id) {accounts}'
    return f'INSERT INTO {Q} (account_id) VALUES ({accounts})'


def upgrade() -> None:
    op.create_table(Q,
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_prepaid_sweep_queue_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_sweep_queue'))
    )
    op.create_table('prepaid_sweep_due',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('due_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_prepaid_sweep_due_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_prepaid_sweep_due'))
    )
    op.create_index('ix_prepaid_sweep_due_due_ms_account_id', 'prepaid_sweep_due', ['due_ms', 'account_id'], unique=False)
    op.create_table('prepaid_sweep_config',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_sweep_config'))
    )
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for name, table, event, when, accounts in TRIGGERS:
        if sqlite:
            op.execute(
                f'CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW'
                + (f' WHEN {when}' if when else '')
                + f' BEGIN {_insert(accounts)}; END'
            )
        else:
            op.execute(
                f'CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
                f'{_insert(accounts)}; RETURN NULL; END $$'
            )
            op.execute(
                f'CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW'
                + (f' WHEN ({when})' if when else '')
                + f' EXECUTE FUNCTION {name}()'
            )
    # every prepaid account is examined once by the first sweep after the upgrade
    op.execute(f"INSERT INTO {Q} (account_id) SELECT id FROM accounts WHERE kind = 'prepaid'")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for name, table, *_ in TRIGGERS:
        op.execute(f'DROP TRIGGER IF EXISTS {name}' + ('' if sqlite else f' ON {table}'))
        if not sqlite:
            op.execute(f'DROP FUNCTION IF EXISTS {name}()')
    op.drop_table('prepaid_sweep_config')
    op.drop_index('ix_prepaid_sweep_due_due_ms_account_id', table_name='prepaid_sweep_due')
    op.drop_table('prepaid_sweep_due')
    op.drop_table(Q)
