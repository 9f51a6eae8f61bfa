"""Alembic migrations create exactly what the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

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
