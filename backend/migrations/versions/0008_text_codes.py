"""Text for people as codes: the code and parameters beside each stored sentence (flag
details, ledger memos, command reasons and errors, notices). Rows written before have none:
their English (or, for notices, Chinese) text stays as it was.

Revision ID: 0008_text_codes
Revises: 0007 (re-chained after the other branches' migrations at merge)
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008_text_codes'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    'field_flags': ('detail_code', 'detail_params'),
    'ledger_entries': ('memo_code', 'memo_params'),
    'commands': ('reason_code', 'reason_params', 'error_code', 'error_params'),
    'notices': ('code', 'params'),
}


def upgrade() -> None:
    for table, names in COLUMNS.items():
        for name in names:
            kind = sa.JSON() if name.endswith('params') else sa.String(length=48)
            op.add_column(table, sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    for table, names in COLUMNS.items():
        with op.batch_alter_table(table) as batch:  # SQLite drops a column by copying the table
            for name in reversed(names):
                batch.drop_column(name)
