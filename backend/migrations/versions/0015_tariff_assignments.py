"""Tariff schedules and assignments: each tariff belongs to a schedule (by default its
category's), and an account may be assigned another schedule from a given day; an account's
own tier terms (household-size allowance, first-cycle proration).

Revision ID: 0015_tariff_assignments
Revises: 0014_servicedesk_orders
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015_tariff_assignments'
down_revision: str | None = '0014_servicedesk_orders'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tariffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule', sa.String(length=64), nullable=True))
    op.execute("UPDATE tariffs SET schedule = category")
    with op.batch_alter_table('tariffs', schema=None) as batch_op:
        batch_op.alter_column('schedule', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint('uq_tariffs_category_effective', type_='unique')
        batch_op.create_unique_constraint(
            'uq_tariffs_schedule_effective', ['schedule', 'effective_from']
        )

    op.create_table('tariff_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('schedule', sa.String(length=64), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('assigned_by', sa.String(length=64), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_tariff_assignments_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tariff_assignments')),
    sa.UniqueConstraint('account_id', 'effective_from', name='uq_tariff_assignments_account_effective')
    )
    op.create_index(op.f('ix_tariff_assignments_account_id'), 'tariff_assignments', ['account_id'], unique=False)
    op.create_table('account_tariff_terms',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('household_extra_kwh_month', sa.Integer(), nullable=False),
    sa.Column('prorate_from', sa.Date(), nullable=True),
    sa.Column('capacity_kva', sa.Integer(), nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_tariff_terms_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_tariff_terms'))
    )


def downgrade() -> None:
    op.drop_table('account_tariff_terms')
    op.drop_index(op.f('ix_tariff_assignments_account_id'), table_name='tariff_assignments')
    op.drop_table('tariff_assignments')
    with op.batch_alter_table('tariffs', schema=None) as batch_op:
        batch_op.drop_constraint('uq_tariffs_schedule_effective', type_='unique')
        batch_op.create_unique_constraint(
            'uq_tariffs_category_effective', ['category', 'effective_from']
        )
        batch_op.drop_column('schedule')
