"""Disconnect approval: the approval a manual disconnect needs, the policy's verdict when it was
ordered, the override reason, which failed command a retry repeats, and a person's own words
(reason, comment) on each audit row.

Revision ID: 0011_disconnect_approval
Revises: 0010_auth_security
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_disconnect_approval"
down_revision: str | None = "0010_auth_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("command_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approval", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("override_reason", sa.String(length=500), nullable=True))
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approval", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("verdict", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("override_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("retry_of", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_commands_retry_of"), ["retry_of"])
        batch_op.create_foreign_key(
            batch_op.f("fk_commands_retry_of_commands"), "commands", ["retry_of"], ["id"]
        )
    with op.batch_alter_table("command_audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("command_audit", schema=None) as batch_op:
        batch_op.drop_column("note")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_commands_retry_of_commands"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_commands_retry_of"), type_="unique")
        batch_op.drop_column("retry_of")
        batch_op.drop_column("override_reason")
        batch_op.drop_column("verdict")
        batch_op.drop_column("approval")
    with op.batch_alter_table("command_batches", schema=None) as batch_op:
        batch_op.drop_column("override_reason")
        batch_op.drop_column("approval")
