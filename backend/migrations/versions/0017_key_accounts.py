"""Key accounts: profiles with history, R90 class rules (seeded), segments, managers' cards,
visits, notes and surveys.

Revision ID: 0017_key_accounts
Revises: 0016_areas
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0017_key_accounts'
down_revision: str | None = '0016_areas'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('key_account_rules',
    sa.Column('klass', sa.Integer(), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('klass', name=op.f('pk_key_account_rules'))
    )
    # R90's six classes with the thresholds of requirements.md (docs/key-accounts.md)
    rules = sa.table('key_account_rules', sa.column('klass', sa.Integer()),
                     sa.column('conditions', sa.JSON()), sa.column('active', sa.Boolean()),
                     sa.column('updated_by', sa.String()),
                     sa.column('updated_at', sa.DateTime(timezone=True)))
    seeded = datetime(2026, 12, 4, tzinfo=UTC)
    op.bulk_insert(rules, [
        {'klass': k, 'conditions': c, 'active': True, 'updated_by': 'migration', 'updated_at': seeded}
        for k, c in [
            (1, [{'field': 'org_type', 'op': 'in', 'value': ['government', 'public_service']}]),
            (2, [{'field': 'org_type', 'op': 'in', 'value': ['industrial', 'commercial']},
                 {'field': 'capacity_kva', 'op': '>=', 'value': 1000}]),
            (3, [{'field': 'org_type', 'op': 'in', 'value': ['agriculture_authority']}]),
            (4, [{'field': 'households', 'op': '>=', 'value': 2000}]),
            (5, [{'field': 'important', 'op': 'is', 'value': True}]),
            (6, [{'field': 'new_capacity_kva', 'op': '>=', 'value': 3000}]),
        ]
    ])
    op.create_table('segmentation_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segmentation_settings'))
    )
    op.create_table('customer_profile_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('changed_by', sa.String(length=64), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_profile_history_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_profile_history')),
    sa.UniqueConstraint('customer_id', 'version', name='uq_profile_history')
    )
    op.create_table('customer_segments',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('key_account_classes', sa.JSON(), nullable=False),
    sa.Column('abc_class', sa.String(length=1), nullable=False),
    sa.Column('annual_revenue_fen', sa.BigInteger(), nullable=False),
    sa.Column('credit_score', sa.Integer(), nullable=False),
    sa.Column('credit_rating', sa.String(length=4), nullable=False),
    sa.Column('credit_inputs', sa.JSON(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_segments_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_segments'))
    )
    op.create_table('customer_profiles',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('org_type', sa.Enum('government', 'public_service', 'industrial', 'commercial', 'agriculture_authority', 'residential_community', 'residential', 'other', name='orgtype', native_enum=False, length=32), nullable=False),
    sa.Column('capacity_kva', sa.Integer(), nullable=False),
    sa.Column('new_capacity_kva', sa.Integer(), nullable=False),
    sa.Column('voltage_level', sa.Enum('0.22kV', '0.4kV', '10kV', '20kV', '35kV', '110kV', '220kV', name='voltagelevel', native_enum=False, length=8), nullable=True),
    sa.Column('industry_code', sa.String(length=8), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('industrial_park', sa.String(length=100), nullable=False),
    sa.Column('important', sa.Boolean(), nullable=False),
    sa.Column('technical_contact', sa.String(length=100), nullable=False),
    sa.Column('technical_phone', sa.String(length=32), nullable=False),
    sa.Column('billing_contact', sa.String(length=100), nullable=False),
    sa.Column('billing_phone', sa.String(length=32), nullable=False),
    sa.Column('contract_expires_on', sa.Date(), nullable=True),
    sa.Column('manager_id', sa.Integer(), nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_profiles_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['manager_id'], ['users.id'], name=op.f('fk_customer_profiles_manager_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_profiles'))
    )
    with op.batch_alter_table('customer_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_profiles_manager_id'), ['manager_id'], unique=False)

    op.create_table('ka_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('from_customer', sa.Boolean(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('answered', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_ka_notes_author_id_users')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_ka_notes_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ka_notes'))
    )
    with op.batch_alter_table('ka_notes', schema=None) as batch_op:
        batch_op.create_index('ix_ka_notes_customer', ['customer_id', 'created_at'], unique=False)

    op.create_table('ka_visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('manager_id', sa.Integer(), nullable=False),
    sa.Column('planned_for', sa.Date(), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('planned', 'done', 'cancelled', name='visitstatus', native_enum=False, length=16), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('distance_m', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_ka_visits_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['manager_id'], ['users.id'], name=op.f('fk_ka_visits_manager_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ka_visits')),
    sa.UniqueConstraint('client_id', name=op.f('uq_ka_visits_client_id'))
    )
    with op.batch_alter_table('ka_visits', schema=None) as batch_op:
        batch_op.create_index('ix_ka_visits_customer', ['customer_id', 'planned_for'], unique=False)
        batch_op.create_index(batch_op.f('ix_ka_visits_manager_id'), ['manager_id'], unique=False)

    op.create_table('manager_cards',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_manager_cards_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_manager_cards'))
    )
    # surveys (backend/keyaccounts/surveys)
    op.create_table('questionnaires',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('question_ids', sa.JSON(), nullable=False),
    sa.Column('abc_classes', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questionnaires'))
    )
    op.create_table('survey_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text_zh', sa.String(length=300), nullable=False),
    sa.Column('text_en', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.Enum('score', 'text', name='questionkind', native_enum=False, length=8), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_questions'))
    )
    op.create_table('survey_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('questionnaire_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('app', 'phone', name='surveychannel', native_enum=False, length=8), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_survey_responses_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['questionnaire_id'], ['questionnaires.id'], name=op.f('fk_survey_responses_questionnaire_id_questionnaires')),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_survey_responses_recorded_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_responses')),
    sa.UniqueConstraint('client_id', name=op.f('uq_survey_responses_client_id')),
    sa.UniqueConstraint('questionnaire_id', 'customer_id', name='uq_survey_responses_once')
    )
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_responses_questionnaire_id'), ['questionnaire_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_responses_questionnaire_id'))

    op.drop_table('survey_responses')
    op.drop_table('survey_questions')
    op.drop_table('questionnaires')
    op.drop_table('manager_cards')
    with op.batch_alter_table('ka_visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ka_visits_manager_id'))
        batch_op.drop_index('ix_ka_visits_customer')

    op.drop_table('ka_visits')
    with op.batch_alter_table('ka_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_ka_notes_customer')

    op.drop_table('ka_notes')
    with op.batch_alter_table('customer_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_profiles_manager_id'))

    op.drop_table('customer_profiles')
    op.drop_table('customer_segments')
    op.drop_table('customer_profile_history')
    op.drop_table('segmentation_settings')
    op.drop_table('key_account_rules')
