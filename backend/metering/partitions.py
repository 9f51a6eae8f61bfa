"""Monthly partitions of ``readings`` on PostgreSQL (migration 0002 partitions it by range on
``ts``, UTC epoch ms), created ahead of time by ingestion at start-up and then daily.

Why ahead, and the DEFAULT partition caveat: a row whose month has no partition lands in
``readings_default``. That keeps an insert from ever failing, but creating (or attaching) a
partition later makes PostgreSQL scan the whole default partition — under an ACCESS EXCLUSIVE
lock that blocks ingestion — to prove none of its rows belong to the new range; and if some
do, plain ``CREATE TABLE … PARTITION OF`` fails. So we create each month's partition well
before its first reading arrives, which keeps the default partition empty in normal operation
(only far-past backfill or readings from a meter whose clock is years off end up there). When
rows for a month we are about to create are already in the default partition, they are moved
into the new table before it is attached, in the same transaction. A large default partition
is an operational smell worth a look: ``SELECT count(*) FROM readings_default``.

SQLite has no partitions; there every function here does nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

LOCK_KEY = 0x6D6C_7061_7274  # "mlpart": one partition creator at a time, across processes


def month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def month_bounds(year: int, month: int) -> tuple[int, int]:
    """[start, end) of a UTC calendar month in epoch ms."""
    lo = month_start(year, month)
    hi = month_start(year, month + 1)
    return int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)


def partition_name(year: int, month: int) -> str:
    return f"readings_{year:04d}{month:02d}"


async def existing_partitions(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'readings'::regclass ORDER BY 1"
        )
    )
    return [r[0] for r in rows]


async def ensure_reading_partitions(
    conn: AsyncConnection, months_ahead: int = 2, *, now: datetime | None = None
) -> list[str]:
    """Create the partitions for this UTC month and the next ``months_ahead``; returns the
    names created. Idempotent and safe to run from several processes at once. Commits as it
    goes (one transaction per partition): pass a connection not inside a transaction block."""
    if conn.dialect.name != "postgresql":
        return []
    now = now or datetime.now(UTC)
    created: list[str] = []
    for k in range(months_ahead + 1):
        start = month_start(now.year, now.month + k)
        if await _create_month(conn, start.year, start.month):
            created.append(partition_name(start.year, start.month))
    return created


async def _create_month(conn: AsyncConnection, year: int, month: int) -> bool:
    name = partition_name(year, month)  # digits only: safe to splice into DDL
    lo, hi = month_bounds(year, month)
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    exists = await conn.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})
    if exists:
        await conn.commit()
        return False
    strays = await conn.scalar(
        text("SELECT EXISTS (SELECT 1 FROM readings_default WHERE ts >= :lo AND ts < :hi)"),
        {"lo": lo, "hi": hi},
    )
    if not strays:
        await conn.execute(
            text(f"CREATE TABLE {name} PARTITION OF readings FOR VALUES FROM ({lo}) TO ({hi})")
        )
    else:
        # Rows of this month already sit in the default partition: give them their own table
        # first, then attach it. The CHECK constraint lets ATTACH skip re-validating the rows.
        await conn.execute(
            text(f"CREATE TABLE {name} (LIKE readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        )
        # digits only in name, lo and hi: nothing to inject
        where = f"ts >= {lo} AND ts < {hi}"
        move = f"WITH moved AS (DELETE FROM readings_default WHERE {where} RETURNING *)"  # noqa: S608
        move += f" INSERT INTO {name} SELECT * FROM moved"  # noqa: S608
        await conn.execute(text(move))
        await conn.execute(
            text(f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK (ts >= {lo} AND ts < {hi})")
        )
        await conn.execute(
            text(f"ALTER TABLE readings ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})")
        )
        await conn.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range"))
    await conn.commit()
    return True
