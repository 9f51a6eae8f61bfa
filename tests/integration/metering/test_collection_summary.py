"""The collection rate answered from its summary equals counting from the readings, after any
change (late readings, meters installed, removed or moved), for every caller and grouping."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from backend.accounts.models import Customer, CustomerCategory
from backend.auth.guards import load_caller
from backend.db import session_factory
from backend.metering.models import (
    MANUAL_PROTOCOL,
    CollectionRateDirty,
    CollectionRateMark,
    Meter,
    MeterStatus,
)
from backend.metering.schemas import RateGrouping
from tests.integration.api.conftest import Api
from tests.support.collection_reference import reference_collection_rate
from tests.support.readings import commit_readings, ms

TZ = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2026, 3, 1), date(2026, 3, 10)
RANGE = f"from={FIRST}&to={LAST}"


async def _fleet(api: Api) -> list[int]:
    """Thirty meters across both grids and areas (some without one, one manual, one installed
    and one removed within the range) with readings of every quality, some days missing."""
    w = api.world
    rnd = random.Random(21)
    async with session_factory(api.engine)() as s:
        places = [(w.grid1, w.area1), (w.grid2, w.area2), (w.grid1, None), (None, None)]
        meters = []
        for n in range(30):
            grid, area = places[n % 4]
            c = Customer(number=f"CR{n:03d}", name=f"户{n}", category=CustomerCategory.RESIDENTIAL,
                         grid_id=grid, transformer_area_id=area)  # fmt: skip
            s.add(c)
            await s.flush()
            m = Meter(
                meter_id=f"M-CR{n:03d}", customer_id=c.id if n != 29 else None,
                status=MeterStatus.ACTIVE, installed_on=date(2026, 1, 1),
                protocol=MANUAL_PROTOCOL if n == 28 else "dlt645",
            )  # fmt: skip
            if n == 3:
                m.installed_on = date(2026, 3, 5)
            if n == 7:
                m.status = MeterStatus.REMOVED
                m.removed_at = datetime(2026, 3, 6, 8, tzinfo=UTC)
            s.add(m)
            meters.append(m)
        await s.flush()
        pks = [m.id for m in meters]
        await s.commit()
    for pk in pks:
        points = []
        for day in range(28, 28 + 14):
            if rnd.random() < 0.25:
                continue
            at = ms(2026, 2, 1, 16) + day * 86_400_000 + rnd.choice([0, 0, 3_600_000])
            points.append((at, 1_000 * day))
        quality = rnd.choice(["good", "good", "backfilled", "estimated", "invalid"])
        await commit_readings(api.engine, pk, points, quality=quality, hook=False)
    return pks


async def _same_as_reference(
    api: Api, usernames: tuple[str, ...] = ("op", "insp1", "insp2")
) -> None:
    for username in usernames:
        headers = await api.login(username)
        for group in RateGrouping:
            async with session_factory(api.engine)() as s:
                caller = await load_caller(s, api.world.users[username])
                assert caller is not None
                expected = await reference_collection_rate(s, caller, FIRST, LAST, group, TZ)
            r = await api.client.get(
                f"/api/collection-rate?{RANGE}&group={group.value}&limit=500", headers=headers
            )
            assert r.status_code == 200, r.text
            got = r.json()
            want = [
                {**{k: getattr(row, k) for k in row.__struct_fields__}, "day": str(row.day)}
                for row in expected
            ]
            assert got["items"] == want, (username, group)
            assert got["total"] == len(want)


async def test_the_summary_answers_exactly_what_counting_the_readings_gives(api: Api) -> None:
    pks = await _fleet(api)
    await _same_as_reference(api)
    async with session_factory(api.engine)() as s:  # a second query counts nothing again
        assert await s.scalar(select(func.count()).select_from(CollectionRateMark)) == 10
        assert await s.scalar(select(func.count()).select_from(CollectionRateDirty)) == 0
    await _same_as_reference(api, ("op",))
    # a late reading of a closed day, then a meter moved to another customer's grid, a meter
    # removed, a customer moved to another area: each answered as the readings say
    await commit_readings(api.engine, pks[1], [(ms(2026, 3, 3, 20), 5)], hook=False)
    await _same_as_reference(api, ("op", "insp2"))
    async with session_factory(api.engine)() as s:
        await s.execute(update(Meter).where(Meter.id == pks[2]).values(customer_id=api.world.bob))
        await s.commit()
    await _same_as_reference(api, ("op", "insp1", "insp2"))
    async with session_factory(api.engine)() as s:
        await s.execute(
            update(Meter).where(Meter.id == pks[5]).values(
                status=MeterStatus.REMOVED, removed_at=datetime(2026, 3, 4, 1, tzinfo=UTC)
            )
        )  # fmt: skip
        await s.execute(
            update(Customer).where(Customer.number == "CR000").values(transformer_area_id=None)
        )
        await s.commit()
    await _same_as_reference(api)


async def test_pages_of_the_collection_rate_join_into_the_whole(api: Api) -> None:
    await _fleet(api)
    op = await api.login("op")
    whole = (await api.client.get(f"/api/collection-rate?{RANGE}&group=grid&limit=500",
                                  headers=op)).json()  # fmt: skip
    assert whole["total"] == len(whole["items"]) > 20
    pages: list[dict[str, Any]] = []
    for offset in range(0, whole["total"], 7):
        r = await api.client.get(
            f"/api/collection-rate?{RANGE}&group=grid&limit=7&offset={offset}", headers=op
        )
        assert r.json()["total"] == whole["total"]
        pages += r.json()["items"]
    assert pages == whole["items"]
