"""Monthly reading partitions on PostgreSQL, created ahead; strays in DEFAULT are moved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from backend.db import create_engine
from backend.metering.partitions import (
    ensure_reading_partitions,
    existing_partitions,
    month_bounds,
)
from tests.support.ingest_agent import query

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
ROW = "INSERT INTO readings VALUES (1, 'energy_import', :ts, 1, 'good', 'ami', 0)"


async def test_partitions_are_created_for_this_month_and_the_next_two_once(
    postgres_database_url: str,
) -> None:
    engine = create_engine(postgres_database_url)
    try:
        async with engine.connect() as conn:
            made = await ensure_reading_partitions(conn, months_ahead=2, now=NOW)
            again = await ensure_reading_partitions(conn, months_ahead=2, now=NOW)
            names = await existing_partitions(conn)
    finally:
        await engine.dispose()
    assert made == ["readings_202611", "readings_202612", "readings_202701"]
    assert again == []
    assert names == ["readings_202611", "readings_202612", "readings_202701", "readings_default"]


async def test_readings_already_in_the_default_partition_move_to_their_new_month(
    postgres_database_url: str,
) -> None:
    lo, hi = month_bounds(2026, 12)
    engine = create_engine(postgres_database_url)
    try:
        async with engine.begin() as conn:
            for ts in (lo, hi - 1, hi):  # two in December, one in January
                await conn.execute(text(ROW), {"ts": ts})
        async with engine.connect() as conn:
            await ensure_reading_partitions(
                conn, months_ahead=1, now=datetime(2026, 12, 5, tzinfo=UTC)
            )
    finally:
        await engine.dispose()
    where = "SELECT tableoid::regclass::text, ts FROM readings ORDER BY ts"
    assert await query(postgres_database_url, where) == [
        ("readings_202612", lo),
        ("readings_202612", hi - 1),
        ("readings_202701", hi),
    ]
    # the moved rows keep their key: a duplicate is still refused
    with pytest.raises(Exception, match="duplicate key"):
        await query(postgres_database_url, ROW.replace(":ts", str(lo)))
