"""Field work: the "nearby meters" query and route planning, each against a baseline measured in
the same run.

1. Nearby (R3). A city of N meters (default 100 000) spread over 30 × 30 km around Hangzhou, on
   SQLite (the embedded default), migrated like production. Ours: ``backend.field.tracks.nearby`` —
   the latitude/longitude box selected in SQL on the position index, haversine on the few
   candidates. Baseline: the same scoped query without the box, every meter measured in Python
   (what one writes without a spatial prefilter). Both answer the same positions and must
   return the same meters, checked before timing. Reported: queries per second and the ratio.

2. Route (reading book). 300 stops of a district: the length of the walk planned by nearest
   neighbour alone (baseline) and by nearest neighbour + 2-opt (ours), and the planning time.

Run: ``.venv/bin/python bench/field_nearby.py [N]`` (about half a minute for 100 000 meters).
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from backend import migrate
from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.models import Role
from backend.auth.scope import customer_scope
from backend.db import create_engine, session_factory
from backend.field.books import routing
from backend.field.geo import haversine_m
from backend.field.tracks.nearby import nearby
from backend.metering.models import Meter

CENTRE = (30.27, 120.15)
SUPERVISOR = Caller(user_id=1, username="sup", role=Role.SUPERVISOR)


async def build(url: str, n: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    customers, meters = [], []
    for i in range(1, n + 1):
        lat = CENTRE[0] + rng.uniform(-0.135, 0.135)
        lon = CENTRE[1] + rng.uniform(-0.155, 0.155)
        customers.append(
            {
                "id": i,
                "number": f"C{i:09d}",
                "name": f"客户{i}",
                "phone": "",
                "category": "residential",
                "address": f"地址 {i}",
                "latitude": lat,
                "longitude": lon,
                "protected": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        meters.append(
            {
                "id": i,
                "meter_id": f"M{i:011d}",
                "serial": "",
                "protocol": "manual",
                "address": "",
                "customer_id": i,
                "status": "active",
                "latitude": lat,
                "longitude": lon,
                "relay_control_mode": 2,
                "online": False,
                "created_at": now,
            }
        )
    engine = create_engine(url)
    async with engine.begin() as conn:
        for i in range(0, n, 20_000):
            await conn.execute(sa.insert(Customer), customers[i : i + 20_000])
            await conn.execute(sa.insert(Meter), meters[i : i + 20_000])
        await conn.execute(sa.text("ANALYZE"))
    await engine.dispose()


async def baseline(session, lat: float, lon: float, radius: float) -> list[str]:  # type: ignore[no-untyped-def]
    rows = await session.execute(
        sa.select(Meter.meter_id, Meter.latitude, Meter.longitude)
        .join(Customer, Customer.id == Meter.customer_id)
        .where(customer_scope(SUPERVISOR))
    )
    found = [
        (round(d, 1), mid)
        for mid, mlat, mlon in rows
        if (d := haversine_m(lat, lon, mlat, mlon)) <= radius
    ]
    return [mid for _, mid in sorted(found)][:100]


async def race(url: str, rng: random.Random, radius: float, rounds: int) -> tuple[float, float]:
    points = [
        (CENTRE[0] + rng.uniform(-0.12, 0.12), CENTRE[1] + rng.uniform(-0.14, 0.14))
        for _ in range(rounds)
    ]
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        for lat, lon in points[:5]:  # same answers first
            ours = await nearby(session, SUPERVISOR, lat, lon, 10, radius, 2000, 15)
            assert [m.meter_id for m in ours.meters] == await baseline(session, lat, lon, radius)
        t = time.perf_counter()
        for lat, lon in points:
            await nearby(session, SUPERVISOR, lat, lon, 10, radius, 2000, 15)
        ours_qps = rounds / (time.perf_counter() - t)
        t = time.perf_counter()
        for lat, lon in points[: max(3, rounds // 50)]:
            await baseline(session, lat, lon, radius)
        base_qps = max(3, rounds // 50) / (time.perf_counter() - t)
    await engine.dispose()
    return ours_qps, base_qps


def route(rng: random.Random) -> None:
    stops = []
    for k in range(300):
        lat = CENTRE[0] + rng.uniform(-0.006, 0.006)
        lon = CENTRE[1] + rng.uniform(-0.008, 0.008)
        stops.append(routing.Stop(k, lat, lon))
    by_key = {s.key: (s.lat, s.lon) for s in stops}
    saved = routing.MAX_TWO_OPT_STOPS
    routing.MAX_TWO_OPT_STOPS = 0  # nearest neighbour alone
    t = time.perf_counter()
    nn = routing.plan_route(stops)
    nn_s = time.perf_counter() - t
    routing.MAX_TWO_OPT_STOPS = saved
    t = time.perf_counter()
    ours = routing.plan_route(stops)
    ours_s = time.perf_counter() - t
    nn_m = routing.path_length_m([by_key[k] for k in nn])  # type: ignore[misc]
    ours_m = routing.path_length_m([by_key[k] for k in ours])  # type: ignore[misc]
    print(
        f"route, 300 stops: nearest neighbour {nn_m:,.0f} m in {nn_s * 1000:.0f} ms; "
        f"+ 2-opt {ours_m:,.0f} m in {ours_s * 1000:.0f} ms; "
        f"ours / baseline length {ours_m / nn_m:.2f}"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = random.Random(20261120)
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite+aiosqlite:///{Path(d) / 'bench.db'}"
        migrate.upgrade(url)
        asyncio.run(build(url, n, rng))
        for radius in (100.0, 500.0):
            ours, base = asyncio.run(race(url, rng, radius, 200))
            print(
                f"nearby, {n:,} meters, radius {radius:.0f} m: ours {ours:,.0f} q/s, "
                f"baseline (no prefilter) {base:,.1f} q/s, ratio {ours / base:,.0f}x"
            )
    route(rng)


if __name__ == "__main__":
    main()
