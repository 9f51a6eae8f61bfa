"""Core entities: grids, transformer areas, customers, accounts, users, agents, meters,
readings (partitioned by month on PostgreSQL), meter events, ingest gaps.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 21:41:04.167958
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table('agents',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('last_birth_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_reading_seq', sa.BigInteger(), nullable=True),
    sa.Column('last_event_seq', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents'))
    )
    op.create_table('grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=True),
    # users is created later (it references customers, which reference grids): SQLite takes the
    # forward reference inline, PostgreSQL gets the constraint once users exists
    *([sa.ForeignKeyConstraint(['inspector_id'], ['users.id'], name=op.f('fk_grids_inspector_id_users'), ondelete='SET NULL')] if sqlite else []),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grids')),
    sa.UniqueConstraint('code', name=op.f('uq_grids_code'))
    )
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grids_inspector_id'), ['inspector_id'], unique=False)

    op.create_table('ingest_gaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('first_missing', sa.BigInteger(), nullable=False),
    sa.Column('last_missing', sa.BigInteger(), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_gaps'))
    )
    with op.batch_alter_table('ingest_gaps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_gaps_agent_id'), ['agent_id'], unique=False)

    if sqlite:
        op.create_table('readings',
        sa.Column('meter_pk', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.String(length=32), nullable=False),
        sa.Column('ts', sa.BigInteger(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.Column('quality', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('received_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('meter_pk', 'quantity', 'ts', name='pk_readings'),
        sqlite_with_rowid=False,
        )
        op.create_index('ix_readings_ts', 'readings', ['ts'], unique=False)
    else:
        # Partitioned by month on the acquisition time; a DEFAULT partition takes anything
        # outside the monthly partitions, which `ensure_reading_partitions` creates ahead.
        op.execute("""
            CREATE TABLE readings (
                meter_pk integer NOT NULL,
                quantity varchar(32) NOT NULL,
                ts bigint NOT NULL,
                value bigint NOT NULL,
                quality varchar(16) NOT NULL,
                source varchar(16) NOT NULL,
                received_at bigint NOT NULL,
                CONSTRAINT pk_readings PRIMARY KEY (meter_pk, quantity, ts)
            ) PARTITION BY RANGE (ts)
        """)
        op.execute("CREATE TABLE readings_default PARTITION OF readings DEFAULT")
        op.execute("CREATE INDEX ix_readings_ts ON readings (ts)")

    op.create_table('transformer_areas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_transformer_areas_grid_id_grids')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transformer_areas')),
    sa.UniqueConstraint('code', name=op.f('uq_transformer_areas_code'))
    )
    with op.batch_alter_table('transformer_areas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transformer_areas_grid_id'), ['grid_id'], unique=False)

    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('category', sa.Enum('residential', 'non_residential_lighting', 'general_industry', 'large_industry', 'agricultural', 'commercial', name='customercategory', native_enum=False, length=32), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('transformer_area_id', sa.Integer(), nullable=True),
    sa.Column('protected', sa.Boolean(), nullable=False),
    sa.Column('key_account_class', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_customers_grid_id_grids')),
    sa.ForeignKeyConstraint(['transformer_area_id'], ['transformer_areas.id'], name=op.f('fk_customers_transformer_area_id_transformer_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('number', name=op.f('uq_customers_number'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_transformer_area_id'), ['transformer_area_id'], unique=False)

    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('prepaid', 'postpaid', name='accountkind', native_enum=False, length=16), nullable=False),
    sa.Column('balance_fen', sa.BigInteger(), nullable=False),
    sa.Column('credit_limit_fen', sa.BigInteger(), nullable=False),
    sa.Column('cycle_start', sa.Date(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_accounts_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('number', name=op.f('uq_accounts_number'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_customer_id'), ['customer_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('customer', 'inspector', 'supervisor', 'operator', 'admin', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_users_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_customer_id'), ['customer_id'], unique=False)
    if not sqlite:
        op.create_foreign_key(op.f('fk_grids_inspector_id_users'), 'grids', 'users',
                              ['inspector_id'], ['id'], ondelete='SET NULL')

    op.create_table('meters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('protocol', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('pending', 'active', 'removed', name='meterstatus', native_enum=False, length=16), nullable=False),
    sa.Column('installed_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaces_meter_id', sa.Integer(), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('relay_control_mode', sa.SmallInteger(), nullable=False),
    sa.Column('relay_state', sa.SmallInteger(), nullable=True),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_meters_account_id_accounts')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_meters_agent_id_agents')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_meters_customer_id_customers')),
    sa.ForeignKeyConstraint(['replaces_meter_id'], ['meters.id'], name=op.f('fk_meters_replaces_meter_id_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meters')),
    sa.UniqueConstraint('meter_id', name=op.f('uq_meters_meter_id'))
    )
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meters_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meters_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meters_customer_id'), ['customer_id'], unique=False)

    op.create_table('meter_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('meter_pk', sa.Integer(), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['meter_pk'], ['meters.id'], name=op.f('fk_meter_events_meter_pk_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_events')),
    sa.UniqueConstraint('meter_pk', 'ts', 'kind', name='uq_meter_events_key')
    )
    with op.batch_alter_table('meter_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meter_events_meter_pk'), ['meter_pk'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('meter_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meter_events_meter_pk'))

    op.drop_table('meter_events')
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meters_customer_id'))
        batch_op.drop_index(batch_op.f('ix_meters_agent_id'))
        batch_op.drop_index(batch_op.f('ix_meters_account_id'))

    op.drop_table('meters')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_customer_id'))

    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f('fk_grids_inspector_id_users'), 'grids', type_='foreignkey')
    op.drop_table('users')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_customer_id'))

    op.drop_table('accounts')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_transformer_area_id'))
        batch_op.drop_index(batch_op.f('ix_customers_grid_id'))

    op.drop_table('customers')
    with op.batch_alter_table('transformer_areas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transformer_areas_grid_id'))

    op.drop_table('transformer_areas')
    op.execute("DROP TABLE readings")
    with op.batch_alter_table('ingest_gaps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_gaps_agent_id'))

    op.drop_table('ingest_gaps')
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grids_inspector_id'))

    op.drop_table('grids')
    op.drop_table('agents')
