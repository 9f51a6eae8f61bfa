"""Organisation hierarchy province → city → district → grid (R110): org units, the district of
a grid, and the unit a staff user is scoped to.

Revision ID: 0022_org_hierarchy
Revises: 0021_servicedesk_kb
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0022_org_hierarchy'
down_revision: str | None = '0021_servicedesk_kb'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'org_units',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('level', sa.Enum('province', 'city', 'district', name='orglevel', native_enum=False, length=16), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['org_units.id'], name=op.f('fk_org_units_parent_id_org_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_org_units')),
        sa.UniqueConstraint('code', name=op.f('uq_org_units_code')),
    )
    op.create_index(op.f('ix_org_units_parent_id'), 'org_units', ['parent_id'], unique=False)
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_unit_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_grids_org_unit_id'), ['org_unit_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_grids_org_unit_id_org_units'), 'org_units', ['org_unit_id'], ['id'])
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_unit_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_org_unit_id'), ['org_unit_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_users_org_unit_id_org_units'), 'org_units', ['org_unit_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_org_unit_id_org_units'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_users_org_unit_id'))
        batch_op.drop_column('org_unit_id')
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_grids_org_unit_id_org_units'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_grids_org_unit_id'))
        batch_op.drop_column('org_unit_id')
    op.drop_index(op.f('ix_org_units_parent_id'), table_name='org_units')
    op.drop_table('org_units')
