"""Key accounts: value tags with history (R97), the service level of a segment (R96, R99,
R100), the monthly segmentation runs and documents on a profile.

Revision ID: 0029_value_tags
Revises: 0026_outage_orders
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0029_value_tags'
down_revision: str | None = '0026_outage_orders'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE = sa.Enum('computed', 'manual', name='tagsource', native_enum=False, length=16)


def upgrade() -> None:
    op.create_table(
        'customer_tags',
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('source', SOURCE, nullable=False),
        sa.Column('tag', sa.String(length=32), nullable=False),
        sa.Column('added_by', sa.String(length=64), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_tags_customer_id_customers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('customer_id', 'source', 'tag', name=op.f('pk_customer_tags')),
    )
    op.create_index('ix_customer_tags_tag', 'customer_tags', ['tag'], unique=False)
    op.create_table(
        'customer_tag_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('source', SOURCE, nullable=False),
        sa.Column('tag', sa.String(length=32), nullable=False),
        sa.Column('added', sa.Boolean(), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_tag_events_customer_id_customers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_tag_events')),
    )
    op.create_index('ix_customer_tag_events_customer', 'customer_tag_events', ['customer_id', 'at'], unique=False)
    op.create_table(
        'segmentation_runs',
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('customers', sa.Integer(), nullable=False),
        sa.Column('ran_by', sa.String(length=64), nullable=False),
        sa.Column('ran_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('month', name=op.f('pk_segmentation_runs')),
    )
    op.create_table(
        'ka_documents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('contract', 'licence', 'other', name='documentkind', native_enum=False, length=16), nullable=False),
        sa.Column('title', sa.String(length=100), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('content_type', sa.String(length=32), nullable=False),
        sa.Column('size_bytes', sa.Integer(), nullable=False),
        sa.Column('uploaded_by', sa.String(length=64), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_ka_documents_customer_id_customers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ka_documents')),
    )
    op.create_index('ix_ka_documents_customer', 'ka_documents', ['customer_id', 'uploaded_at'], unique=False)
    with op.batch_alter_table('customer_segments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_level', sa.String(length=16), server_default='standard', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('customer_segments', schema=None) as batch_op:
        batch_op.drop_column('service_level')
    op.drop_index('ix_ka_documents_customer', table_name='ka_documents')
    op.drop_table('ka_documents')
    op.drop_table('segmentation_runs')
    op.drop_index('ix_customer_tag_events_customer', table_name='customer_tag_events')
    op.drop_table('customer_tag_events')
    op.drop_index('ix_customer_tags_tag', table_name='customer_tags')
    op.drop_table('customer_tags')
