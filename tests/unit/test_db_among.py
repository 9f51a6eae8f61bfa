"""``backend.db.among``: a list of keys as one bound parameter, so a statement reads the same
whatever the count (compiled once, prepared once) and still selects exactly those keys."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from backend.db import among
from backend.metering.models import Meter


@pytest.mark.parametrize(
    ("name", "dialect"), [("postgresql", postgresql.dialect()), ("sqlite", sqlite.dialect())]
)
def test_the_statement_reads_the_same_for_any_count(name: str, dialect: Dialect) -> None:
    texts = {
        # as the driver gets it: an IN list's placeholders are rendered one per key here
        str(
            select(Meter.id)
            .where(among(name, Meter.id, keys))
            .compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        )
        for keys in ([], [7], [3, 1, 2], list(range(1000)))
    }
    assert len(texts) == 1, texts


def test_postgresql_binds_one_array_of_the_columns_type() -> None:
    compiled = (
        select(Meter.id)
        .where(among("postgresql", Meter.id, {3, 1, 2}))
        .compile(dialect=postgresql.dialect())
    )
    assert "= ANY (" in str(compiled)
    assert [sorted(v) for v in compiled.params.values()] == [[1, 2, 3]]


def test_sqlite_selects_exactly_the_keys() -> None:
    stmt = select(Meter.id).where(among("sqlite", Meter.id, [5, 2, 9, 2]))
    compiled = stmt.compile(dialect=sqlite.dialect())
    with sqlite3.connect(":memory:") as conn:
        conn.execute("CREATE TABLE meters (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO meters VALUES (?)", [(i,) for i in range(12)])
        rows = conn.execute(str(compiled), list(compiled.params.values())).fetchall()
    assert sorted(r[0] for r in rows) == [2, 5, 9]
