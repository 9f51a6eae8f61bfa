"""Screens at a utility's size: a reading book's changes kept by triggers (its ETag is one
indexed read), and the collection rate per closed day and group kept as a summary.

Revision ID: 0034_screens_at_scale
Revises: 0033_tier_counters
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_screens_at_scale"
down_revision: str | None = "0033_tier_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _books(column: str, value: str) -> str:
    books = f"SELECT book_id FROM reading_book_items WHERE {column} = {value}"  # noqa: S608
    return f"INSERT INTO reading_book_changes (book_id) {books}"


def _dirty(hour: str) -> str:
    """Marks a UTC hour (or -1: everything) as changed, once. {sqlite} and {postgresql} hold
    each database's form: SQLite's triggers take the conflict policy of the statement that
    fired them (an upsert's is ABORT), so they test for the row instead of OR IGNORE; on
    PostgreSQL the insert is always attempted, so that it always takes the lock the summary's
    invalidation waits for."""
    table = "collection_rate_dirty"
    sqlite = f"INSERT INTO {table} (hour) SELECT {hour}"
    sqlite += f" WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE hour = {hour})"  # noqa: S608
    postgresql = f"INSERT INTO {table} (hour) VALUES ({hour}) ON CONFLICT DO NOTHING"
    return f"{sqlite}\x00{postgresql}"


Trigger = tuple[str, str, str, str | None, str]

# (trigger name, table, event, condition, statement). Insert-only, like the sweep queue's
# (0012): an ingestion never waits on a book row.
BOOK_TRIGGERS: list[Trigger] = [
    ("book_chg_reading_new", "readings", "INSERT", None, _books("meter_pk", "NEW.meter_pk")),
    ("book_chg_reading_upd", "readings", "UPDATE", None, _books("meter_pk", "NEW.meter_pk")),
    ("book_chg_reading_del", "readings", "DELETE", None, _books("meter_pk", "OLD.meter_pk")),
    (
        "book_chg_field_reading",
        "field_readings",
        "INSERT",
        None,
        _books("meter_pk", "NEW.meter_pk"),
    ),
    (
        "book_chg_customer",
        "customers",
        "UPDATE OF number, name, address, phone, category, key_account_class, latitude, longitude",
        None,
        _books("customer_id", "NEW.id"),
    ),
    (
        "book_chg_meter",
        "meters",
        "UPDATE OF meter_id, serial, latitude, longitude",
        None,
        _books("meter_pk", "NEW.id"),
    ),
    (
        "book_chg_task",
        "field_tasks",
        "UPDATE OF kind, status, due_on, note",
        None,
        _books("customer_id", "NEW.customer_id"),
    ),
]


ENERGY = "NEW.quantity = 'energy_import'"


def _counts(row: str) -> str:
    return f"{row}.status IN ('active', 'removed') AND {row}.protocol <> 'manual'"


# the collection rate's summary is out of date for the hour of a changed energy_import reading,
# and everywhere after a change to which meters are expected or to which group they count in
RATE_TRIGGERS: list[Trigger] = [
    ("rate_dirty_reading_new", "readings", "INSERT", ENERGY, _dirty("NEW.ts / 3600000")),
    ("rate_dirty_reading_upd", "readings", "UPDATE", ENERGY, _dirty("NEW.ts / 3600000")),
    (
        "rate_dirty_reading_del",
        "readings",
        "DELETE",
        "OLD.quantity = 'energy_import'",
        _dirty("OLD.ts / 3600000"),
    ),
    # only a meter that counts (in service or removed, not manual-read): a pending meter
    # registered by ingestion changes nothing until it is activated (an UPDATE OF status)
    ("rate_dirty_meter_new", "meters", "INSERT", _counts("NEW"), _dirty("-1")),
    ("rate_dirty_meter_del", "meters", "DELETE", _counts("OLD"), _dirty("-1")),
    (
        "rate_dirty_meter",
        "meters",
        "UPDATE OF installed_on, created_at, removed_at, status, protocol, customer_id",
        None,
        _dirty("-1"),
    ),
    (
        "rate_dirty_customer",
        "customers",
        "UPDATE OF grid_id, transformer_area_id",
        None,
        _dirty("-1"),
    ),
]


_GRAMS = (
    "INSERT INTO customer_name_grams (gram, customer_id)"
    " SELECT DISTINCT lower(substr(NEW.name, p.n, p.width)), NEW.id FROM search_positions p"
    " WHERE p.n + p.width - 1 <= length(NEW.name)"
)
# a customer's name cut into characters and pairs of characters, for the customer search
SEARCH_TRIGGERS: list[Trigger] = [
    ("customer_grams_new", "customers", "INSERT", None, _GRAMS),
    (
        "customer_grams_name",
        "customers",
        "UPDATE OF name",
        None,
        "DELETE FROM customer_name_grams WHERE customer_id = OLD.id; " + _GRAMS,
    ),
]


def create_triggers(triggers: list[Trigger]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table, event, when, statement in triggers:
        if "\x00" in statement:  # one form per database (see _dirty)
            statement = statement.split("\x00")[0 if sqlite else 1]
        if sqlite:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW"
                + (f" WHEN {when}" if when else "")
                + f" BEGIN {statement}; END"
            )
        else:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"{statement}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW"
                + (f" WHEN ({when})" if when else "")
                + f" EXECUTE FUNCTION {name}()"
            )


def drop_triggers(triggers: list[Trigger]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table, *_ in triggers:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def upgrade() -> None:
    op.create_table(
        "reading_book_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"],
            ["reading_books.id"],
            name=op.f("fk_reading_book_changes_book_id_reading_books"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_book_changes")),
    )
    op.create_index("ix_reading_book_changes_book_id_id", "reading_book_changes", ["book_id", "id"])
    op.create_index("ix_reading_book_items_meter_pk", "reading_book_items", ["meter_pk"])
    op.create_index("ix_reading_book_items_customer_id", "reading_book_items", ["customer_id"])
    create_triggers(BOOK_TRIGGERS)
    op.create_table(
        "collection_rate_days",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("transformer_area_id", sa.Integer(), nullable=True),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("collected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_rate_days")),
    )
    op.create_index("ix_collection_rate_days_day_grid", "collection_rate_days", ["day", "grid_id"])
    op.create_table(
        "collection_rate_marks",
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_collection_rate_marks")),
    )
    op.create_table(
        "collection_rate_dirty",
        sa.Column("hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_collection_rate_dirty")),
    )
    op.create_table(
        "collection_rate_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_rate_state")),
    )
    op.execute("INSERT INTO collection_rate_state (id, generation) VALUES (1, 0)")
    create_triggers(RATE_TRIGGERS)
    op.create_table(
        "search_positions",
        sa.Column("n", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("width", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("n", "width", name="pk_search_positions"),
    )
    op.execute(
        "INSERT INTO search_positions (n, width) VALUES "
        + ", ".join(f"({n}, {w})" for n in range(1, 101) for w in (1, 2))
    )
    op.create_table(
        "customer_name_grams",
        sa.Column("gram", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_name_grams_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("gram", "customer_id", name="pk_customer_name_grams"),
    )
    op.create_index(
        "ix_customer_name_grams_customer_id", "customer_name_grams", ["customer_id"]
    )
    op.execute(
        "INSERT INTO customer_name_grams (gram, customer_id)"
        " SELECT DISTINCT lower(substr(c.name, p.n, p.width)), c.id"
        " FROM customers c JOIN search_positions p ON p.n + p.width - 1 <= length(c.name)"
    )
    create_triggers(SEARCH_TRIGGERS)


def downgrade() -> None:
    drop_triggers(SEARCH_TRIGGERS)
    op.drop_index("ix_customer_name_grams_customer_id", table_name="customer_name_grams")
    op.drop_table("customer_name_grams")
    op.drop_table("search_positions")
    drop_triggers(RATE_TRIGGERS)
    op.drop_table("collection_rate_state")
    op.drop_table("collection_rate_dirty")
    op.drop_table("collection_rate_marks")
    op.drop_index("ix_collection_rate_days_day_grid", table_name="collection_rate_days")
    op.drop_table("collection_rate_days")
    drop_triggers(BOOK_TRIGGERS)
    op.drop_index("ix_reading_book_items_customer_id", table_name="reading_book_items")
    op.drop_index("ix_reading_book_items_meter_pk", table_name="reading_book_items")
    op.drop_index("ix_reading_book_changes_book_id_id", table_name="reading_book_changes")
    op.drop_table("reading_book_changes")
