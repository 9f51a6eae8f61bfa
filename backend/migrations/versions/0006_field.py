"""Field work: tasks, reading books, photos, field readings (insert-only), correction
decisions, plausibility flags, track points; repair jobs and outage notices.

Confirmed field readings and the decisions on corrections are insert-only (R8): a trigger on
each database refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) with a message saying so.

Revision ID: 0006
Revises: 0004 (re-chained after the other branches' migrations when merged)
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSERT_ONLY = ('field_readings', 'field_correction_decisions')
MESSAGE = ("%s is insert-only: a confirmed field reading and a decision on a correction "
           "cannot be changed or deleted (R8); submit a correction instead")


def _create_insert_only_guard(table: str) -> None:
    message = MESSAGE % table
    if op.get_bind().dialect.name == 'sqlite':
        for action in ('UPDATE', 'DELETE'):
            op.execute(f"""
                CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
                BEGIN SELECT RAISE(ABORT, '{message}'); END
            """)
        return
    op.execute(f"""
        CREATE FUNCTION {table}_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{message}' USING ERRCODE = 'integrity_constraint_violation';
        END $$
    """)
    op.execute(f"""
        CREATE TRIGGER {table}_insert_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION {table}_insert_only()
    """)
    op.execute(f"""
        CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION {table}_insert_only()
    """)


def _drop_insert_only_guard(table: str) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.execute(f"DROP TRIGGER IF EXISTS {table}_insert_only ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {table}_insert_only()")


def upgrade() -> None:
    op.create_table('field_photos',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], name=op.f('fk_field_photos_uploaded_by_users')),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_field_photos'))
    )
    op.create_table('field_track_points',
    sa.Column('inspector_id', sa.Integer(), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('accuracy_m', sa.Float(), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['inspector_id'], ['users.id'], name=op.f('fk_field_track_points_inspector_id_users')),
    sa.PrimaryKeyConstraint('inspector_id', 'ts', name='pk_field_track_points')
    )
    op.create_table('reading_books',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.String(length=7), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('start_latitude', sa.Float(), nullable=True),
    sa.Column('start_longitude', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['inspector_id'], ['users.id'], name=op.f('fk_reading_books_inspector_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reading_books')),
    sa.UniqueConstraint('inspector_id', 'cycle', name='uq_reading_books_key')
    )
    op.create_table('repair_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('reported_by', sa.Integer(), nullable=False),
    sa.Column('workers', sa.JSON(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('area', sa.String(length=200), nullable=False),
    sa.Column('transformer_area_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expected_finish_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finish_note', sa.Text(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('accuracy_m', sa.Float(), nullable=False),
    sa.Column('fix_at', sa.BigInteger(), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reported_by'], ['users.id'], name=op.f('fk_repair_jobs_reported_by_users')),
    sa.ForeignKeyConstraint(['transformer_area_id'], ['transformer_areas.id'], name=op.f('fk_repair_jobs_transformer_area_id_transformer_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repair_jobs')),
    sa.UniqueConstraint('client_id', name=op.f('uq_repair_jobs_client_id'))
    )
    with op.batch_alter_table('repair_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_repair_jobs_active', ['finished_at', 'expected_finish_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_repair_jobs_reported_by'), ['reported_by'], unique=False)

    op.create_table('field_readings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.Enum('reading', 'correction', name='fieldreadingkind', native_enum=False, length=16), nullable=False),
    sa.Column('meter_pk', sa.Integer(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=False),
    sa.Column('book_id', sa.Integer(), nullable=True),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('registers', sa.JSON(), nullable=False),
    sa.Column('photo_sha256', sa.String(length=64), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('fix_at', sa.BigInteger(), nullable=True),
    sa.Column('device_at', sa.BigInteger(), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['book_id'], ['reading_books.id'], name=op.f('fk_field_readings_book_id_reading_books')),
    sa.ForeignKeyConstraint(['corrects_id'], ['field_readings.id'], name=op.f('fk_field_readings_corrects_id_field_readings')),
    sa.ForeignKeyConstraint(['inspector_id'], ['users.id'], name=op.f('fk_field_readings_inspector_id_users')),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_field_readings_meter_pk_meters')),
    sa.ForeignKeyConstraint(['photo_sha256'], ['field_photos.sha256'], name=op.f('fk_field_readings_photo_sha256_field_photos')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_readings')),
    sa.UniqueConstraint('client_id', name=op.f('uq_field_readings_client_id'))
    )
    with op.batch_alter_table('field_readings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_field_readings_corrects_id'), ['corrects_id'], unique=False)
        batch_op.create_index('ix_field_readings_inspector_fix', ['inspector_id', 'fix_at'], unique=False)
        batch_op.create_index('ix_field_readings_meter_ts', ['meter_pk', 'ts'], unique=False)
        batch_op.create_index('ix_field_readings_position', ['latitude', 'longitude'], unique=False)

    op.create_table('field_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('meter_check', 'safety_inspection', 'energy_audit', 'equipment_checkup', 'onsite_application', 'customer_visit', name='fieldtaskkind', native_enum=False, length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('meter_pk', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('open', 'done', 'cancelled', name='fieldtaskstatus', native_enum=False, length=16), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_by', sa.Integer(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['completed_by'], ['users.id'], name=op.f('fk_field_tasks_completed_by_users')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_field_tasks_created_by_users')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_field_tasks_customer_id_customers')),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_field_tasks_meter_pk_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_tasks'))
    )
    with op.batch_alter_table('field_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_field_tasks_customer_status', ['customer_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_field_tasks_meter_pk'), ['meter_pk'], unique=False)

    op.create_table('outage_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('planned', 'unplanned', name='outagekind', native_enum=False, length=16), nullable=False),
    sa.Column('area', sa.String(length=200), nullable=False),
    sa.Column('transformer_area_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expected_end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('repair_job_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_outage_notices_created_by_users')),
    sa.ForeignKeyConstraint(['repair_job_id'], ['repair_jobs.id'], name=op.f('fk_outage_notices_repair_job_id_repair_jobs')),
    sa.ForeignKeyConstraint(['transformer_area_id'], ['transformer_areas.id'], name=op.f('fk_outage_notices_transformer_area_id_transformer_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outage_notices'))
    )
    with op.batch_alter_table('outage_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outage_notices_transformer_area_id'), ['transformer_area_id'], unique=False)
        batch_op.create_index('ix_outage_notices_window', ['expected_end_at', 'starts_at'], unique=False)

    op.create_table('reading_book_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('book_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('meter_pk', sa.Integer(), nullable=True),
    sa.Column('reasons', sa.String(length=200), nullable=False),
    sa.Column('task_ids', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['book_id'], ['reading_books.id'], name=op.f('fk_reading_book_items_book_id_reading_books'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_reading_book_items_customer_id_customers')),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_reading_book_items_meter_pk_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reading_book_items')),
    sa.UniqueConstraint('book_id', 'meter_pk', name='uq_reading_book_items_meter'),
    sa.UniqueConstraint('book_id', 'seq', name='uq_reading_book_items_seq')
    )
    op.create_table('field_correction_decisions',
    sa.Column('correction_id', sa.Integer(), nullable=False),
    sa.Column('approved', sa.Boolean(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['correction_id'], ['field_readings.id'], name=op.f('fk_field_correction_decisions_correction_id_field_readings')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_field_correction_decisions_decided_by_users')),
    sa.PrimaryKeyConstraint('correction_id', name=op.f('pk_field_correction_decisions'))
    )
    op.create_table('field_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('field_reading_id', sa.Integer(), nullable=False),
    sa.Column('meter_pk', sa.Integer(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('open', 'resolved', name='flagstatus', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_by', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['field_reading_id'], ['field_readings.id'], name=op.f('fk_field_flags_field_reading_id_field_readings')),
    sa.ForeignKeyConstraint(['inspector_id'], ['users.id'], name=op.f('fk_field_flags_inspector_id_users')),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_field_flags_meter_pk_meters')),
    sa.ForeignKeyConstraint(['resolved_by'], ['users.id'], name=op.f('fk_field_flags_resolved_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_flags')),
    sa.UniqueConstraint('field_reading_id', 'kind', name='uq_field_flags_key')
    )
    with op.batch_alter_table('field_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_field_flags_inspector_id'), ['inspector_id'], unique=False)
        batch_op.create_index('ix_field_flags_status', ['status', 'created_at'], unique=False)

    # the "nearby" query's bounding-box prefilter (backend/field/tracks/nearby.py)
    op.create_index('ix_customers_position', 'customers', ['latitude', 'longitude'], unique=False)
    op.create_index('ix_meters_position', 'meters', ['latitude', 'longitude'], unique=False)

    for table in INSERT_ONLY:
        _create_insert_only_guard(table)



def downgrade() -> None:
    for table in INSERT_ONLY:
        _drop_insert_only_guard(table)
    op.drop_index('ix_meters_position', table_name='meters')
    op.drop_index('ix_customers_position', table_name='customers')

    with op.batch_alter_table('field_flags', schema=None) as batch_op:
        batch_op.drop_index('ix_field_flags_status')
        batch_op.drop_index(batch_op.f('ix_field_flags_inspector_id'))

    op.drop_table('field_flags')
    op.drop_table('field_correction_decisions')
    op.drop_table('reading_book_items')
    with op.batch_alter_table('outage_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_outage_notices_window')
        batch_op.drop_index(batch_op.f('ix_outage_notices_transformer_area_id'))

    op.drop_table('outage_notices')
    with op.batch_alter_table('field_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_field_tasks_meter_pk'))
        batch_op.drop_index('ix_field_tasks_customer_status')

    op.drop_table('field_tasks')
    with op.batch_alter_table('field_readings', schema=None) as batch_op:
        batch_op.drop_index('ix_field_readings_position')
        batch_op.drop_index('ix_field_readings_meter_ts')
        batch_op.drop_index('ix_field_readings_inspector_fix')
        batch_op.drop_index(batch_op.f('ix_field_readings_corrects_id'))

    op.drop_table('field_readings')
    with op.batch_alter_table('repair_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repair_jobs_reported_by'))
        batch_op.drop_index('ix_repair_jobs_active')

    op.drop_table('repair_jobs')
    op.drop_table('reading_books')
    op.drop_table('field_track_points')
    op.drop_table('field_photos')
