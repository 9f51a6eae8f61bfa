"""Business expansion (业扩报装): applications, their documents, steps and timeline.

Revision ID: 0023_expansion
Revises: 0022_org_hierarchy
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_expansion"
down_revision: str | None = "0022_org_hierarchy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('expansion_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('supply_type', sa.Enum('residential', 'low_voltage', 'high_voltage', name='supplytype', native_enum=False, length=16), nullable=False),
    sa.Column('kind', sa.Enum('new', 'increase', name='applicationkind', native_enum=False, length=16), nullable=False),
    sa.Column('channel', sa.Enum('pwa', 'counter', 'field', name='applicationchannel', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('open', 'energised', 'cancelled', name='applicationstatus', native_enum=False, length=16), nullable=False),
    sa.Column('applicant_user_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('applicant_name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('capacity_kva', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('transformer_area_id', sa.Integer(), nullable=True),
    sa.Column('green_channel', sa.Boolean(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('step_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('step_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('survey_latitude', sa.Float(), nullable=True),
    sa.Column('survey_longitude', sa.Float(), nullable=True),
    sa.Column('survey_accuracy_m', sa.Float(), nullable=True),
    sa.Column('survey_photos', sa.JSON(), nullable=False),
    sa.Column('survey_note', sa.Text(), nullable=False),
    sa.Column('fee_lines', sa.JSON(), nullable=False),
    sa.Column('fees_fen', sa.BigInteger(), nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('meter_protocol', sa.String(length=16), nullable=False),
    sa.Column('meter_address', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=True),
    sa.Column('created_customer_id', sa.Integer(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('meter_pk', sa.Integer(), nullable=True),
    sa.Column('energised_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_expansion_applications_account_id_accounts')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_expansion_applications_agent_id_agents')),
    sa.ForeignKeyConstraint(['applicant_user_id'], ['users.id'], name=op.f('fk_expansion_applications_applicant_user_id_users')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_expansion_applications_created_by_users')),
    sa.ForeignKeyConstraint(['created_customer_id'], ['customers.id'], name=op.f('fk_expansion_applications_created_customer_id_customers')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_expansion_applications_customer_id_customers')),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_expansion_applications_grid_id_grids')),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_expansion_applications_meter_pk_meters')),
    sa.ForeignKeyConstraint(['transformer_area_id'], ['transformer_areas.id'], name=op.f('fk_expansion_applications_transformer_area_id_transformer_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expansion_applications')),
    sa.UniqueConstraint('created_by', 'idempotency_key', name='uq_expansion_idempotency'),
    sa.UniqueConstraint('number', name=op.f('uq_expansion_applications_number'))
    )
    with op.batch_alter_table('expansion_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expansion_applications_applicant_user_id'), ['applicant_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_expansion_applications_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_expansion_applications_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index('ix_expansion_queue', ['status', 'step_due_at'], unique=False)

    op.create_table('expansion_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('id_card', 'property_proof', 'business_licence', 'authorisation', 'load_list', name='documentkind', native_enum=False, length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['expansion_applications.id'], name=op.f('fk_expansion_documents_application_id_expansion_applications')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], name=op.f('fk_expansion_documents_uploaded_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expansion_documents')),
    sa.UniqueConstraint('application_id', 'kind', 'sha256', name='uq_expansion_documents')
    )
    with op.batch_alter_table('expansion_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expansion_documents_application_id'), ['application_id'], unique=False)

    op.create_table('expansion_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.Enum('expansion.submitted', 'expansion.document', 'expansion.waiting_documents', 'expansion.green_channel', 'expansion.accepted_incomplete', 'expansion.advanced', 'expansion.surveyed', 'expansion.fees', 'expansion.energised', 'expansion.cancelled', name='applicationevent', native_enum=False, length=40), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_expansion_events_actor_id_users')),
    sa.ForeignKeyConstraint(['application_id'], ['expansion_applications.id'], name=op.f('fk_expansion_events_application_id_expansion_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expansion_events'))
    )
    with op.batch_alter_table('expansion_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expansion_events_application_id'), ['application_id'], unique=False)

    op.create_table('expansion_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['expansion_applications.id'], name=op.f('fk_expansion_steps_application_id_expansion_applications')),
    sa.ForeignKeyConstraint(['finished_by'], ['users.id'], name=op.f('fk_expansion_steps_finished_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expansion_steps'))
    )
    with op.batch_alter_table('expansion_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expansion_steps_application_id'), ['application_id'], unique=False)
        batch_op.create_index('ix_expansion_steps_finished', ['finished_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('expansion_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_expansion_steps_finished')
        batch_op.drop_index(batch_op.f('ix_expansion_steps_application_id'))

    op.drop_table('expansion_steps')
    with op.batch_alter_table('expansion_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expansion_events_application_id'))

    op.drop_table('expansion_events')
    with op.batch_alter_table('expansion_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expansion_documents_application_id'))

    op.drop_table('expansion_documents')
    with op.batch_alter_table('expansion_applications', schema=None) as batch_op:
        batch_op.drop_index('ix_expansion_queue')
        batch_op.drop_index(batch_op.f('ix_expansion_applications_grid_id'))
        batch_op.drop_index(batch_op.f('ix_expansion_applications_customer_id'))
        batch_op.drop_index(batch_op.f('ix_expansion_applications_applicant_user_id'))

    op.drop_table('expansion_applications')
