"""窃电/故障嫌疑 on a constructed area (TA1: alice, carol and dan; the total meter behind a 10:1
CT), hand-computed over 28 baseline days (25 Feb – 24 Mar 2026) and the recent week (25–31 Mar):

* total meter 2,500 Wh a day → 25,000 Wh in every day;
* alice 10,000 Wh a day throughout; carol 8,000, then 2,000 (a bypass); dan 6,000, then 4,000;
* loss before: (25,000 − 24,000) / 25,000 = 0.04; in the week: (25,000 − 16,000) / 25,000 = 0.36;
* carol's week is 2,000 < 0.5 × 8,000: suspected; dan's 4,000 ≥ 3,000: not."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from sqlalchemy import insert, select

from backend.db import session_factory
from backend.field.books.models import FieldTask, FieldTaskKind
from backend.metering.models import ConsumptionDaily
from tests.integration.api.test_org_units import scope, two_cities
from tests.integration.areas.conftest import Net

DAY = date(2026, 3, 31)
FIRST = DAY - timedelta(days=34)
SPLIT = DAY - timedelta(days=6)


async def _days(net: Net) -> None:
    w = net.api.world
    per_day = {
        net.total: (2_500, 2_500),
        w.alice_meter: (10_000, 10_000),
        net.carol_meter: (8_000, 2_000),
        net.dan_meter: (6_000, 4_000),
    }
    rows = []
    for i in range(35):
        d = FIRST + timedelta(days=i)
        for meter, (before, after) in per_day.items():
            wh = after if d >= SPLIT else before
            rows.append({"meter_pk": meter, "quantity": "energy_import", "day": d, "wh": wh,
                         "first_ts": i, "last_ts": i + 1, "through_ts": i + 1, "intervals": 1,
                         "first_value": 0, "last_value": wh})  # fmt: skip
    async with net.api.engine.begin() as conn:
        await conn.execute(insert(ConsumptionDaily), rows)


async def test_a_meter_whose_use_fell_while_its_areas_loss_rose_gets_one_inspection_task(
    net: Net,
) -> None:
    api = net.api
    await _days(net)
    op = await api.login("op")
    r = await api.client.post(
        "/api/areas/suspicions/detect", json={"day": DAY.isoformat()}, headers=op
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["areas_checked"], got["areas_rising"]) == (1, 1)
    assert [
        (s["meter_id"], s["baseline_wh_per_day"], s["recent_wh_per_day"],
         s["loss_rate_before"], s["loss_rate_after"], s["task_status"])
        for s in got["new"]
    ] == [("M-CAROL", 8_000, 2_000, 0.04, 0.36, "open")]  # fmt: skip
    async with session_factory(api.engine)() as s:
        task = await s.get(FieldTask, got["new"][0]["task_id"])
        assert task is not None
        assert (task.kind, task.meter_pk, task.customer_id, task.due_on) == (
            FieldTaskKind.METER_CHECK,
            net.carol_meter,
            net.carol,
            date(2026, 4, 3),
        )
    # the same day again, and twice at once: still one suspicion and one task
    again = await asyncio.gather(*(
        api.client.post("/api/areas/suspicions/detect", json={"day": DAY.isoformat()}, headers=op)
        for _ in range(2)
    ))  # fmt: skip
    assert [(a.status_code, a.json()["new"]) for a in again] == [(200, []), (200, [])]
    # the next day finds carol's task still open: nothing new
    nxt = await api.client.post(
        "/api/areas/suspicions/detect", json={"day": "2026-04-01"}, headers=op
    )
    assert nxt.json()["new"] == []
    listed = (await api.client.get("/api/areas/suspicions?open_only=true", headers=op)).json()
    assert [s["meter_id"] for s in listed] == ["M-CAROL"]
    async with session_factory(api.engine)() as s:
        tasks = (
            await s.scalars(select(FieldTask).where(FieldTask.meter_pk == net.carol_meter))
        ).all()
        assert len(tasks) == 1


async def test_a_loss_that_did_not_rise_enough_flags_nobody(net: Net) -> None:
    await _days(net)
    r = await net.api.client.post(
        "/api/areas/suspicions/detect",
        json={"day": DAY.isoformat(), "loss_rise": 0.5},
        headers=await net.api.login("op"),
    )
    assert (r.json()["areas_rising"], r.json()["new"]) == (0, [])


async def test_suspicions_are_scoped_and_refused_to_inspectors_customers_and_bad_bodies(
    net: Net,
) -> None:
    api = net.api
    await _days(net)
    op = await api.login("op")
    await api.client.post("/api/areas/suspicions/detect", json={"day": DAY.isoformat()}, headers=op)
    ids = await two_cities(api)
    await scope(api, "sup", ids["city_b"])
    sup = await api.login("sup")
    assert (await api.client.get("/api/areas/suspicions", headers=sup)).json() == []
    other = await api.client.post(
        "/api/areas/suspicions/detect", json={"day": DAY.isoformat()}, headers=sup
    )
    assert (other.json()["areas_checked"], other.json()["new"]) == (0, [])
    for user in ("insp1", "alice"):
        r = await api.client.get("/api/areas/suspicions", headers=await api.login(user))
        assert r.status_code == 403
    for body in ({"day": "2026-13-01"}, {"day": DAY.isoformat(), "drop_share": 1.5},
                 {"day": DAY.isoformat(), "amount": 1}):  # fmt: skip
        bad = await api.client.post("/api/areas/suspicions/detect", json=body, headers=op)
        assert bad.status_code == 400, body
