"""The prepaid sweep watches an account's balance from a line, not every change of it.

Billing changes a billed account's balance every round and the trigger of 0012 queued the
account each time, so every sweep examined every account whose meter reported since the last —
at 96 readings a day, every account every 15 minutes: 1,100 accounts/s at a million, more than
one process examines. A healthy account's verdict does not change while its balance stays well
above the low-balance line. The sweep now leaves each account it found quiet a *watch line*
(``accounts.sweep_watch_fen``, ``backend.prepaid.sweep.watch_line``: where a quarter of its
headroom above the balance it would be warned below is spent, at least twice that balance and
what the arrears rule looks at), and a change of the balance queues the account only when the
old or the new balance is below that line. NULL (an account not yet examined, or one the sweep is following:
low, warned, a meter off) queues on every change, as before. A change of the credit limit or
the kind always queues. Time still brings every account back (``prepaid_sweep_due``).

Revision ID: 0044_sweep_watch
Revises: 0043_charges_live_partial
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0044_sweep_watch"
down_revision: str | None = "0043_charges_live_partial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "sweep_q_account"
EVENT = "UPDATE OF balance_fen, credit_limit_fen, kind"
QUEUE = "INSERT INTO prepaid_sweep_queue (account_id) VALUES (NEW.id)"
BEFORE = (
    "NEW.balance_fen <> OLD.balance_fen OR NEW.credit_limit_fen <> OLD.credit_limit_fen"
    " OR NEW.kind <> OLD.kind"
)
WATCHED = (
    "NEW.credit_limit_fen <> OLD.credit_limit_fen OR NEW.kind <> OLD.kind"
    " OR (NEW.balance_fen <> OLD.balance_fen AND (NEW.sweep_watch_fen IS NULL"
    " OR NEW.balance_fen < NEW.sweep_watch_fen OR OLD.balance_fen < NEW.sweep_watch_fen))"
)


def _trigger(when: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {NAME}")
        op.execute(
            f"CREATE TRIGGER {NAME} AFTER {EVENT} ON accounts FOR EACH ROW WHEN {when}"
            f" BEGIN {QUEUE}; END"
        )
    else:  # the function (0012) stays: it queues NEW.id
        op.execute(f"DROP TRIGGER IF EXISTS {NAME} ON accounts")
        op.execute(
            f"CREATE TRIGGER {NAME} AFTER {EVENT} ON accounts FOR EACH ROW WHEN ({when})"
            f" EXECUTE FUNCTION {NAME}()"
        )


def upgrade() -> None:
    op.add_column("accounts", sa.Column("sweep_watch_fen", sa.BigInteger(), nullable=True))
    _trigger(WATCHED)


def downgrade() -> None:
    _trigger(BEFORE)
    op.drop_column("accounts", "sweep_watch_fen")
