"""Screens at a utility's size: a reading book's changes kept by triggers (its ETag is one
indexed read), and the collection rate per closed day and group kept as a summary.

Revision ID: 0034_screens_at_scale
Revises: 0032_theft_suspicions (re-chained after the other branches' migrations at merge)
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_screens_at_scale"
down_revision: str | None = "0032_theft_suspicions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _books(column: str, value: str) -> str:
    books = f"SELECT book_id FROM reading_book_items WHERE {column} = {value}"  # noqa: S608
    return f"INSERT INTO reading_book_changes (book_id) {books}"


# (trigger name, table, event, statement). Insert-only, like the sweep queue's (0012): an
# ingestion never waits on a book row.
BOOK_TRIGGERS = [
    ("book_chg_reading_new", "readings", "INSERT", _books("meter_pk", "NEW.meter_pk")),
    ("book_chg_reading_upd", "readings", "UPDATE", _books("meter_pk", "NEW.meter_pk")),
    ("book_chg_reading_del", "readings", "DELETE", _books("meter_pk", "OLD.meter_pk")),
    ("book_chg_field_reading", "field_readings", "INSERT", _books("meter_pk", "NEW.meter_pk")),
    (
        "book_chg_customer",
        "customers",
        "UPDATE OF number, name, address, phone, category, key_account_class, latitude, longitude",
        _books("customer_id", "NEW.id"),
    ),
    (
        "book_chg_meter",
        "meters",
        "UPDATE OF meter_id, serial, latitude, longitude",
        _books("meter_pk", "NEW.id"),
    ),
    (
        "book_chg_task",
        "field_tasks",
        "UPDATE OF kind, status, due_on, note",
        _books("customer_id", "NEW.customer_id"),
    ),
]


def create_triggers(triggers: list[tuple[str, str, str, str]]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table, event, statement in triggers:
        if sqlite:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW"
                f" BEGIN {statement}; END"
            )
        else:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"{statement}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW"
                f" EXECUTE FUNCTION {name}()"
            )


def drop_triggers(triggers: list[tuple[str, str, str, str]]) -> None:
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


def downgrade() -> None:
    drop_triggers(BOOK_TRIGGERS)
    op.drop_index("ix_reading_book_items_customer_id", table_name="reading_book_items")
    op.drop_index("ix_reading_book_items_meter_pk", table_name="reading_book_items")
    op.drop_index("ix_reading_book_changes_book_id_id", table_name="reading_book_changes")
    op.drop_table("reading_book_changes")
