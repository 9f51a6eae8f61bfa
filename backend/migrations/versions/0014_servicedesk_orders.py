"""95598 work orders: the orders, their steps through the workflow, and their timeline.

Revision ID: 0014_servicedesk_orders
Revises: 0013_reading_holds
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014_servicedesk_orders'
down_revision: str | None = '0013_reading_holds'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('work_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('fault', 'complaint', 'inquiry', 'opinion', 'tip_off', 'business', 'appointment', name='orderkind', native_enum=False, length=16), nullable=False),
    sa.Column('channel', sa.Enum('phone', 'pwa', 'wechat', 'counter', 'field', name='orderchannel', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('open', 'closed', name='orderstatus', native_enum=False, length=16), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('meter_pk', sa.Integer(), nullable=True),
    sa.Column('transformer_area_id', sa.Integer(), nullable=True),
    sa.Column('contact_name', sa.String(length=100), nullable=False),
    sa.Column('contact_phone', sa.String(length=32), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('transfers', sa.Integer(), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('node_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('node_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('escalated', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('crew_id', sa.Integer(), nullable=True),
    sa.Column('repair_job_id', sa.Integer(), nullable=True),
    sa.Column('outage_id', sa.Integer(), nullable=True),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.Integer(), nullable=True),
    sa.Column('first_contact_resolved', sa.Boolean(), nullable=False),
    sa.Column('return_visit_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('return_visit_note', sa.Text(), nullable=False),
    sa.Column('satisfaction', sa.SmallInteger(), nullable=True),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rating_comment', sa.Text(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_work_orders_account_id_accounts')),
    sa.ForeignKeyConstraint(['closed_by'], ['users.id'], name=op.f('fk_work_orders_closed_by_users')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_work_orders_created_by_users')),
    sa.ForeignKeyConstraint(['crew_id'], ['users.id'], name=op.f('fk_work_orders_crew_id_users')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_work_orders_customer_id_customers')),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_work_orders_meter_pk_meters')),
    sa.ForeignKeyConstraint(['outage_id'], ['outage_notices.id'], name=op.f('fk_work_orders_outage_id_outage_notices')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_work_orders_owner_id_users')),
    sa.ForeignKeyConstraint(['repair_job_id'], ['repair_jobs.id'], name=op.f('fk_work_orders_repair_job_id_repair_jobs')),
    sa.ForeignKeyConstraint(['transformer_area_id'], ['transformer_areas.id'], name=op.f('fk_work_orders_transformer_area_id_transformer_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_orders')),
    sa.UniqueConstraint('created_by', 'idempotency_key', name='uq_work_orders_idempotency')
    )
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_orders_crew_id'), ['crew_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index('ix_work_orders_queue', ['status', 'node_due_at'], unique=False)

    op.create_table('work_order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.Enum('order.created', 'order.taken', 'order.advanced', 'order.auto_advanced', 'order.escalated', 'order.transferred', 'order.dispatched', 'order.crew_arrived', 'order.repaired', 'order.linked_outage', 'order.closed', 'order.return_visit', 'order.rated', name='orderevent', native_enum=False, length=32), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_work_order_events_actor_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'], name=op.f('fk_work_order_events_order_id_work_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_events'))
    )
    with op.batch_alter_table('work_order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_events_order_id'), ['order_id'], unique=False)

    op.create_table('work_order_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_by', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('done', 'auto', 'linked', 'closed', name='stepoutcome', native_enum=False, length=16), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['finished_by'], ['users.id'], name=op.f('fk_work_order_steps_finished_by_users')),
    sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'], name=op.f('fk_work_order_steps_order_id_work_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_steps'))
    )
    with op.batch_alter_table('work_order_steps', schema=None) as batch_op:
        batch_op.create_index('ix_work_order_steps_finished', ['finished_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_order_steps_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('work_order_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_order_steps_order_id'))
        batch_op.drop_index('ix_work_order_steps_finished')

    op.drop_table('work_order_steps')
    with op.batch_alter_table('work_order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_order_events_order_id'))

    op.drop_table('work_order_events')
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_work_orders_queue')
        batch_op.drop_index(batch_op.f('ix_work_orders_owner_id'))
        batch_op.drop_index(batch_op.f('ix_work_orders_customer_id'))
        batch_op.drop_index(batch_op.f('ix_work_orders_crew_id'))

    op.drop_table('work_orders')
