"""Charges are found by their ledger entry, not by meter.

A reversal (re-rating after a late reading, ``backend.prepaid.ledger.reverse``) marks the
live charges of one entry reversed, and re-rating reads the charges of the entries it
reverses: both by ``entry_id``, which had no index — every reversal read the whole table,
96 M rows a day at 1 M meters. ``ix_charges_meter_start`` (meter, start) served no query:
every read of charges is by account (``ix_charges_account_live``) or by entry. A charge row
still updates three indexes (its key, its account's, its entry's).

Revision ID: 0041_charges_by_entry
Revises: 0040_charges_entry_key_only
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041_charges_by_entry"
down_revision: str | None = "0040_charges_entry_key_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_charges_entry", "charges", ["entry_id"])
    op.drop_index("ix_charges_meter_start", table_name="charges")


def downgrade() -> None:
    op.create_index("ix_charges_meter_start", "charges", ["meter_pk", "start_ms"])
    op.drop_index("ix_charges_entry", table_name="charges")
