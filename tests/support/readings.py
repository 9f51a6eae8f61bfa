"""Write readings the way ingestion does, and run the consumption hook after the commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.metering.consumption import on_readings_committed
from backend.metering.models import Reading


def ms(*args: int) -> int:
    """Epoch ms of a UTC wall time: ms(2026, 3, 1, 16) is 2026-03-02 00:00 in Shanghai."""
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


async def commit_readings(
    engine: AsyncEngine,
    meter_pk: int,
    points: Sequence[tuple[int, int]],
    *,
    quantity: str = "energy_import",
    quality: str = "good",
    hook: bool = True,
) -> int:
    async with engine.begin() as conn:
        await conn.execute(
            insert(Reading),
            [
                {"meter_pk": meter_pk, "quantity": quantity, "ts": ts, "value": v,
                 "quality": quality, "source": "ami", "received_at": ts}
                for ts, v in points
            ],
        )  # fmt: skip
    if not hook:
        return 0
    lo, hi = min(t for t, _ in points), max(t for t, _ in points)
    return await on_readings_committed(engine, [(meter_pk, quantity, lo, hi)])
