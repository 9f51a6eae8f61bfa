"""Alembic migrations create exactly what the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from backend import migrate
from backend.db import create_engine
from backend.models import metadata
from backend.servicedesk.kb.models import FTS_TABLE as KB_FTS


def _diff(sync_conn: Any) -> list[Any]:
    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    diffs = compare_metadata(ctx, metadata)

    # the PostgreSQL partitions of readings (readings_default, readings_YYYYMM) are not models
    def partition(d: Any) -> bool:
        table = d[1] if d[0] == "remove_table" else getattr(d[1], "table", None)
        return d[0] in ("remove_table", "remove_index") and table.name.startswith("readings_")

    # SQLite's full-text table of the knowledge base and its shadow tables are not models
    def fts(d: Any) -> bool:
        return d[0] == "remove_table" and d[1].name.startswith(KB_FTS)

    return [d for d in diffs if not partition(d) and not fts(d)]


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_migrations_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    migrate.downgrade(database_url, "base")
    eng = create_engine(database_url)
    try:
        async with eng.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert set(tables) <= {"alembic_version"}
        migrate.upgrade(database_url)
        async with eng.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert {"readings", "meters", "customers", "accounts", "users"} <= set(tables)
    finally:
        await eng.dispose()


def test_an_sqlite_installation_with_data_upgrades_across_table_rebuilds(tmp_path: Path) -> None:
    """SQLite alters a table by rebuilding it (batch mode): with foreign keys on, dropping the
    old ``grids`` while customers point at it failed, so an installation with data could not
    upgrade past 0022. Rows survive, and the references still hold afterwards."""
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url, "0021_servicedesk_kb")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO grids (id, code, name) VALUES (1, 'G1', '西湖网格')")
        conn.execute(
            "INSERT INTO customers (number, name, phone, category, address, grid_id, protected, "
            "language, created_at, updated_at) VALUES ('C1', '王伟', '', 'residential', '', 1, 0, "
            "'zh-CN', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
    migrate.upgrade(url)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM grids").fetchall() == [("西湖网格",)]
        assert conn.execute("SELECT grid_id FROM customers").fetchall() == [(1,)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
