"""Cost of keeping consumption materialised, against the cost of storing the readings.

Baseline: committing batches of energy readings into ``readings`` as ingestion does (one
multi-row INSERT and a commit per batch). Measured, in the same run and database:

* hook, in order — ``on_readings_committed`` after each batch (the tail of every chain moves);
* hook, late — one late reading per meter into the middle of a day already materialised
  (the day it lands in and the next are recomputed);
* daily query — the API's daily consumption of one customer over 31 days.

Run: ``.venv/bin/python bench/consumption.py [--meters 200] [--days 3] [--url URL]``
(SQLite in a temporary directory unless ``--url`` names a PostgreSQL database).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import date

from sqlalchemy import insert, select

from backend import migrate
from backend.accounts.models import Customer, CustomerCategory
from backend.db import create_engine, session_factory
from backend.metering import service
from backend.metering.consumption import on_readings_committed
from backend.metering.models import Meter, MeterStatus, Reading

START = 1_772_380_800_000  # 2026-03-01T16:00:00Z, local midnight in Shanghai
STEP = 15 * 60_000  # one reading per meter every 15 minutes


async def run(url: str, meters: int, days: int) -> None:
    engine = create_engine(url)
    factory = session_factory(engine)
    async with factory() as s:
        c = Customer(number="B1", name="bench", category=CustomerCategory.RESIDENTIAL)
        s.add(c)
        await s.flush()
        s.add_all(
            Meter(meter_id=f"b-{i}", customer_id=c.id, status=MeterStatus.ACTIVE)
            for i in range(meters)
        )
        await s.commit()
        pks = list(await s.scalars(select(Meter.id).order_by(Meter.id)))
    steps = days * 96
    insert_s = hook_s = 0.0
    for k in range(steps):
        ts = START + k * STEP + 60_000  # never exactly on the quarter: room for late ones
        rows = [
            {"meter_pk": pk, "quantity": "energy_import", "ts": ts, "value": 10 * k + pk,
             "quality": "good", "source": "ami", "received_at": ts}
            for pk in pks
        ]  # fmt: skip
        t0 = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(insert(Reading), rows)
        t1 = time.perf_counter()
        await on_readings_committed(engine, [(pk, "energy_import", ts, ts) for pk in pks])
        hook_s += time.perf_counter() - t1
        insert_s += t1 - t0
    n = steps * meters
    late_ts = START + 30 * STEP  # inside the first day, between two readings
    late = [(pk, "energy_import", late_ts, late_ts) for pk in pks]
    async with engine.begin() as conn:
        await conn.execute(insert(Reading), [
            {"meter_pk": pk, "quantity": "energy_import", "ts": late_ts, "value": 290 + pk,
             "quality": "good", "source": "ami", "received_at": late_ts}
            for pk in pks
        ])  # fmt: skip
    t0 = time.perf_counter()
    await on_readings_committed(engine, late)
    late_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    async with factory() as s:
        ids = select(Meter.id).where(Meter.customer_id == c.id)
        for _ in range(20):
            await service.daily(s, ids, "energy_import", date(2026, 2, 20), date(2026, 3, 22))
    query_s = (time.perf_counter() - t0) / 20
    await engine.dispose()
    print(f"{meters} meters x {steps} readings = {n} readings, {url.split(':')[0]}")
    print(f"  baseline insert+commit : {n / insert_s:10.0f} readings/s")
    print(f"  hook, in order         : {n / hook_s:10.0f} readings/s "
          f"(hook time / insert time = {hook_s / insert_s:.2f})")  # fmt: skip
    print(f"  hook, one late reading per meter: {late_s / meters * 1000:.2f} ms per chain "
          f"({late_s / (insert_s / steps):.2f} x one batch insert)")  # fmt: skip
    print(f"  daily query, {meters} meters x 31 days: {query_s * 1000:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--meters", type=int, default=200)
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--url", help="database URL (default: SQLite in a temporary directory)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        url = args.url or f"sqlite+aiosqlite:///{d}/bench.db"
        migrate.upgrade(url)
        asyncio.run(run(url, args.meters, args.days))


if __name__ == "__main__":
    main()
