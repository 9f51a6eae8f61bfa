"""An account's live charges in partial indexes (``WHERE reversed_at IS NULL``), by start and by
end, in place of the indexes on (account, reversed_at, start) and (account, reversed_at, end).

PostgreSQL orders an index's rows by a column after the leading ones only when those are fixed
by ``=``: ``reversed_at IS NULL`` is not, so on the old index a billing round's "newest live
charge of each account" (``backend.prepaid.bulk.last_live_starts``, a correlated ``max``) read
every live charge the account ever had — in the soak at 23,333 readings/s it was the busiest
statement, 85 ms a call growing to 154 ms as the ledger grew. On a partial index the account is
the only leading column: the newest start is one entry read backwards (4 buffers, not 1,967,
for an account with 30,000 charges). The partial indexes also leave reversed charges out and
are a column narrower. SQLite plans the same queries on either.

Revision ID: 0043_charges_live_partial
Revises: 0042_charges_account_end
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0043_charges_live_partial"
down_revision: str | None = "0042_charges_account_end"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "reversed_at IS NULL"


def upgrade() -> None:
    for name, column in (("ix_charges_live_start", "start_ms"), ("ix_charges_live_end", "end_ms")):
        op.create_index(
            name, "charges", ["account_id", column],
            sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE),
        )  # fmt: skip
    op.drop_index("ix_charges_account_live", table_name="charges")
    op.drop_index("ix_charges_account_live_end", table_name="charges")


def downgrade() -> None:
    op.create_index("ix_charges_account_live", "charges", ["account_id", "reversed_at", "start_ms"])
    op.create_index(
        "ix_charges_account_live_end", "charges", ["account_id", "reversed_at", "end_ms"]
    )
    op.drop_index("ix_charges_live_start", table_name="charges")
    op.drop_index("ix_charges_live_end", table_name="charges")
