"""Line loss and voltage quality for many transformer areas over one day, against one plain
scan of that day's readings, on SQLite.

    .venv/bin/python bench/areas.py                         # 200 areas × 50 meters
    .venv/bin/python bench/areas.py --areas 10000 --meters 200 --samples 96   # the issue's size

Seeds in bulk (Core INSERTs) a migrated SQLite database: N areas, each with a total meter and M
single-phase customer meters; for the day, each meter has its daily consumption row (as the
consumption path materialises it) and S voltage samples. Then measures, in the same run:

* baseline: one scan of the day's readings (``SELECT meter_pk, quantity, value FROM readings
  WHERE ts in the day``), every row fetched;
* loss: ``service.line_loss`` for every area (one call);
* quality: ``service.quality`` for every area (one call each).

Prints seconds and the ratio of each to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from backend import migrate  # noqa: E402
from backend.accounts.models import Customer, CustomerCategory  # noqa: E402
from backend.areas import service  # noqa: E402
from backend.areas.models import AreaSupply  # noqa: E402
from backend.db import create_engine, session_factory  # noqa: E402
from backend.field.grids.models import TransformerArea  # noqa: E402
from backend.metering.consumption_rules import day_start_ms  # noqa: E402
from backend.metering.models import ConsumptionDaily, Meter, Reading  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 3, 2)


async def seed(url: str, areas: int, meters: int, samples: int) -> None:
    engine = create_engine(url)
    start = day_start_ms(DAY, TZ)
    step = 86_400_000 // samples
    day_row = {"quantity": "energy_import", "day": DAY, "first_ts": start, "last_ts": start,
               "first_value": 0, "last_value": 0, "through_ts": start, "intervals": 1}  # fmt: skip
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(TransformerArea), [
                {"id": a + 1, "code": f"TA{a:05d}", "name": f"area {a}"} for a in range(areas)
            ])  # fmt: skip
            pk = 0
            for a in range(areas):
                customers, rows, daily, volts = [], [], [], []
                total = pk = pk + 1
                rows.append({"id": total, "meter_id": f"T{a}", "customer_id": None,
                             "installed_on": date(2025, 1, 1)})  # fmt: skip
                daily.append({**day_row, "meter_pk": total, "wh": meters * 5_300})
                for _ in range(meters):
                    pk += 1
                    customers.append({"id": pk, "number": f"C{pk}", "name": "c",
                                      "category": CustomerCategory.RESIDENTIAL,
                                      "transformer_area_id": a + 1})  # fmt: skip
                    rows.append({"id": pk, "meter_id": f"M{pk}", "customer_id": pk,
                                 "installed_on": date(2025, 1, 1)})  # fmt: skip
                    daily.append({**day_row, "meter_pk": pk, "wh": 5_000})
                    volts += [
                        {"meter_pk": pk, "quantity": "voltage_a", "ts": start + (i + 1) * step,
                         "value": 200_000 + (pk * 7 + i * 13) % 40_000, "quality": "good",
                         "source": "ami", "received_at": start}
                        for i in range(samples)
                    ]  # fmt: skip
                await conn.execute(insert(Customer), customers)
                await conn.execute(insert(Meter), rows)
                await conn.execute(insert(AreaSupply), [
                    {"transformer_area_id": a + 1, "total_meter_pk": total, "rated_kva": 400,
                     "ct_ratio": 1, "pt_ratio": 1}
                ])  # fmt: skip
                await conn.execute(insert(ConsumptionDaily), daily)
                await conn.execute(insert(Reading), volts)
    finally:
        await engine.dispose()


async def measure(url: str, areas: int) -> None:
    engine = create_engine(url)
    start, end = day_start_ms(DAY, TZ), day_start_ms(DAY + timedelta(days=1), TZ)
    try:
        async with session_factory(engine)() as s:
            t = time.perf_counter()
            n = len((await s.execute(
                select(Reading.meter_pk, Reading.quantity, Reading.value)
                .where(Reading.ts > start, Reading.ts <= end)
            )).all())  # fmt: skip
            base = time.perf_counter() - t
            t = time.perf_counter()
            loss = await service.line_loss(s, DAY, DAY)
            t_loss = time.perf_counter() - t
            t = time.perf_counter()
            worst = 1.0
            for a in range(1, areas + 1):
                q = await service.quality(s, a, DAY, TZ)
                worst = min(worst, q.rate or 1.0)
            t_quality = time.perf_counter() - t
    finally:
        await engine.dispose()
    assert len(loss) == areas
    assert {(x.rate, x.state) for x in loss} == {(0.0566, "normal")}, loss[
        0
    ]  # 5,300 Wh in for each 5,000 Wh out
    print(f"baseline: one scan of the day's {n:,} readings {base:8.2f} s")
    print(f"line loss, {areas:,} areas (one call)   {t_loss:8.2f} s  ×{t_loss / base:.2f}")
    print(f"voltage quality, {areas:,} areas        {t_quality:8.2f} s  ×{t_quality / base:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--areas", type=int, default=200)
    p.add_argument("--meters", type=int, default=50, help="customer meters per area")
    p.add_argument("--samples", type=int, default=24, help="voltage samples per meter and day")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        t = time.perf_counter()
        asyncio.run(seed(url, args.areas, args.meters, args.samples))
        print(f"seeded {args.areas:,} areas × {args.meters} meters × {args.samples} samples in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        asyncio.run(measure(url, args.areas))


if __name__ == "__main__":
    main()
