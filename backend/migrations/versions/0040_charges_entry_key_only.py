"""A charge row keeps one foreign key, to its ledger entry; its account and meter are copies
written by the one billing writer (``backend.prepaid.bulk``) from the rows it has locked.

Billing writes a charge row for every priced 15-minute interval — at 1 M meters, 96 M rows a
day — and PostgreSQL checks each foreign key of each row with a trigger of its own: of the
1.72 s a 48,000-interval round spent writing its charges, 1.3 s were the three checks
(``bench/meter_to_ledger.py --breakdown``). The entry's own key ties the charge to the ledger
and, through the entry, to its account; accounts, meters and ledger entries are never deleted.

Revision ID: 0040_charges_entry_key_only
Revises: 0039_accounts_past_credit_index
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0040_charges_entry_key_only"
down_revision: str | None = "0039_accounts_past_credit_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_constraint("fk_charges_account_id_accounts", type_="foreignkey")
        batch_op.drop_constraint("fk_charges_meter_pk_meters", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_charges_account_id_accounts", "accounts", ["account_id"], ["id"]
        )
        batch_op.create_foreign_key("fk_charges_meter_pk_meters", "meters", ["meter_pk"], ["id"])
