"""Tariff assignments over the API: staff list the tariffs in force, the back office assigns
a schedule to an account from a day, billing re-rates what was already billed from that day's
local midnight, and the customer sees their tier and what is left in it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import session_factory
from backend.metering.consumption import on_readings_committed
from backend.prepaid import billing, ledger
from backend.prepaid.models import Charge
from backend.tariffs import rating
from backend.tariffs.loader import DEFAULT_FILE, load_file, parse_tariffs
from backend.tariffs.rating import round_fen
from backend.tariffs.service import store_tariffs
from tests.integration.api.conftest import Api
from tests.support.prepaid_data import TZ, add_readings, local_ms

ZJ = Path(DEFAULT_FILE).parent / "examples" / "zhejiang_residential_2026.toml"
KWH = 1000


async def _load(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as s:
        await store_tariffs(s, load_file(DEFAULT_FILE) + load_file(ZJ))
        await s.commit()


async def _bill_hours(
    api: Api, start: tuple[int, int, int, int], hours: int, *, from_hour: int = 0
) -> None:
    """Alice's meter reads 1 kWh more each hour from ``start`` (local), billed as it comes:
    the readings of hours ``from_hour`` to ``hours`` after it, in one round."""
    meter = api.world.alice_meter
    y, mo, d, h = start
    first = local_ms(y, mo, d, h)
    points = [(first + i * 3_600_000, (100 + i) * KWH) for i in range(from_hour, hours + 1)]
    sessions = session_factory(api.engine)
    async with sessions() as s:
        await add_readings(s, meter, points)
        await s.commit()
    span = [(meter, "energy_import", points[0][0], points[-1][0])]
    await on_readings_committed(sessions, span)
    await billing.on_readings_committed(sessions, span, TZ)


async def _live(api: Api) -> tuple[int, Decimal, int, int]:
    """(live charges' Wh, their exact CNY, reversed charges, ledger sum in fen)."""
    account = api.world.alice_account
    async with session_factory(api.engine)() as s:
        rows = (await s.scalars(select(Charge).where(Charge.account_id == account))).all()
        live = [c for c in rows if c.reversed_at is None]
        total = sum((Decimal(c.exact_cny) for c in live), Decimal(0))
        reversed_ = sum(1 for c in rows if c.reversed_at is not None)
        return sum(c.wh for c in live), total, reversed_, await ledger.ledger_sum(s, account)


def _pin_clock(api: Api, y: int, mo: int, d: int) -> None:
    api.client.app.state.clock = lambda: datetime(y, mo, d, 12, tzinfo=TZ).timestamp()


async def test_staff_list_the_tariffs_in_force_on_a_day_and_customers_may_not(
    tariff_api: Api,
) -> None:
    api = tariff_api
    await _load(api.engine)
    r = await api.client.get("/api/tariffs?on=2026-06-01", headers=await api.login("insp1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["on"] == "2026-06-01"
    by = {t["schedule"]: t for t in body["items"]}
    assert set(by) == {
        "residential", "zj-residential", "zj-residential-tou", "general_industry",
        "large_industry", "commercial", "non_residential_lighting", "agricultural",
    }  # fmt: skip
    tou = by["zj-residential-tou"]
    assert tou["code"] == "ZJ-RES-TOU-2026"
    assert tou["prices"] == {
        "peak": ["0.568", "0.618", "0.868"],
        "valley": ["0.288", "0.338", "0.588"],
    }
    assert tou["tiers_wh"] == [2_760_000, 4_800_000]
    assert tou["until"] is None
    assert (
        await api.client.get("/api/tariffs?on=2025-12-31", headers=await api.login("op"))
    ).json()["items"] == []
    r = await api.client.get("/api/tariffs", headers=await api.login("alice"))
    assert r.status_code == 403
    r = await api.client.get("/api/tariffs?on=2026-02-30", headers=await api.login("op"))
    assert r.status_code == 400


async def test_an_assignment_on_a_billed_day_re_rates_the_account_from_that_midnight(
    tariff_api: Api,
) -> None:
    api = tariff_api
    await _load(api.engine)
    # 20:00 on 28 Feb to 04:00 on 1 Mar, 1 kWh an hour, on RES-2026: 8 kWh x 0.4883
    await _bill_hours(api, (2026, 2, 28, 20), 8)
    wh, exact, reversed_, fen = await _live(api)
    assert (wh, exact, reversed_, fen) == (8 * KWH, Decimal("3.9064"), 0, -391)

    op = await api.login("op")
    url = f"/api/accounts/{api.world.alice_account}/tariff-assignments"
    body = {"schedule": "zj-residential-tou", "effective_from": "2026-03-01"}
    r = await api.client.post(url, json=body, headers=op)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["assigned_by"] == "op"
    assert first["schedule"] == "zj-residential-tou"

    # 4 kWh before midnight stay at 0.4883 (1.9532); 4 kWh after, valley tier 1 at 0.288
    # (1.152): 3.1052 CNY, 311 fen; the 8 hours were billed in one round's entry, which the
    # re-rating reverses whole (8 charges withdrawn), posting the 4 before midnight again
    wh, exact, reversed_, fen = await _live(api)
    assert (wh, exact, reversed_) == (8 * KWH, Decimal("3.1052"), 8)
    assert fen == -round_fen(exact) == -311

    # the same request again: the stored assignment, nothing re-rated twice
    again = await api.client.post(url, json=body, headers=op)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert await _live(api) == (8 * KWH, Decimal("3.1052"), 8, -311)

    _pin_clock(api, 2026, 3, 2)
    r = await api.client.get(url, headers=await api.login("insp1"))
    assert r.status_code == 200, r.text
    listing = r.json()
    assert (listing["default_schedule"], listing["current_schedule"]) == (
        "residential", "zj-residential-tou",
    )  # fmt: skip
    assert [a["effective_from"] for a in listing["items"]] == ["2026-03-01"]


async def test_an_assignment_is_refused_with_a_code_when_it_cannot_be_honoured(
    tariff_api: Api,
) -> None:
    api = tariff_api
    await _load(api.engine)
    op = await api.login("op")
    url = f"/api/accounts/{api.world.alice_account}/tariff-assignments"

    async def post(
        schedule: str, day: str = "2026-03-01", who: dict[str, str] = op
    ) -> tuple[int, str]:
        r = await api.client.post(
            url, json={"schedule": schedule, "effective_from": day}, headers=who
        )
        return r.status_code, r.json().get("code", "")

    assert await post("nowhere") == (404, "error.tariff_schedule_not_found")
    assert await post("commercial") == (422, "error.tariff_category_mismatch")
    assert await post("zj-residential", "2025-06-01") == (422, "error.tariff_not_in_force")
    assert (await post("zj-residential"))[0] == 201
    assert await post("zj-residential-tou") == (409, "error.tariff_assignment_exists")
    assert (await post("Not A Key"))[0] == 400
    assert (await post("zj-residential", "2026-04-01", await api.login("insp1")))[0] == 403
    r = await api.client.post(
        url, json={"schedule": "zj-residential", "effective_from": "2026-04-01", "x": 1}, headers=op
    )
    assert r.status_code == 400
    other = f"/api/accounts/{api.world.alice_account}/tariff-assignments"
    r = await api.client.get(other, headers=await api.login("insp2"))  # not insp2's grid
    assert r.status_code == 404


async def test_the_customer_sees_their_tier_and_what_is_left_in_it(tariff_api: Api) -> None:
    api = tariff_api
    await _load(api.engine)
    await _bill_hours(api, (2026, 5, 6, 0), 10)  # 10 kWh in 2026 on RES-2026
    _pin_clock(api, 2026, 5, 7)
    account = api.world.alice_account
    r = await api.client.get(f"/api/accounts/{account}/tier", headers=await api.login("alice"))
    assert r.status_code == 200, r.text
    tier = r.json()
    assert (tier["tariff"], tier["tier"], tier["tiers"]) == ("RES-2026", 1, 3)
    assert (tier["used_wh"], tier["next_threshold_wh"], tier["left_wh"]) == (
        10 * KWH, 2_880_000, 2_870_000,
    )  # fmt: skip
    assert (tier["cycle_start"], tier["cycle_end"], tier["price"]) == (
        "2026-01-01", "2026-12-31", "0.4883",
    )  # fmt: skip
    r = await api.client.get(f"/api/accounts/{account}/tier", headers=await api.login("bob"))
    assert r.status_code == 404
    async with session_factory(api.engine)() as s:
        assert await s.scalar(select(func.count()).select_from(Charge)) == 10


GZ = Path(DEFAULT_FILE).parent / "examples" / "guangzhou_residential.toml"


async def test_new_tier_terms_re_rate_what_was_billed_and_the_same_terms_again_do_nothing(
    tariff_api: Api,
) -> None:
    api = tariff_api
    async with session_factory(api.engine)() as s:
        await store_tariffs(s, load_file(DEFAULT_FILE) + load_file(GZ))
        await s.commit()
    op = await api.login("op")
    listed = (await api.client.get("/api/tariffs?on=2026-06-01", headers=op)).json()["items"]
    gz = next(t for t in listed if t["schedule"] == "gz-residential")
    assert gz["seasons"] == [{"months": [5, 6, 7, 8, 9, 10], "tiers_wh": [260_000, 600_000]}]
    assert (gz["cycle"], gz["tiers_wh"]) == ("monthly", [200_000, 400_000])
    account = api.world.alice_account
    r = await api.client.post(
        f"/api/accounts/{account}/tariff-assignments",
        json={"schedule": "gz-residential", "effective_from": "2026-01-01"}, headers=op,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    # 250 kWh on 10 January (Guangzhou winter tiers 200/400 kWh a month):
    # 200 x 0.5802 + 50 x 0.6302 = 116.04 + 31.51 = 147.55
    meter = api.world.alice_meter
    sessions = session_factory(api.engine)
    points = [(local_ms(2026, 1, 10, 0), 1_000 * KWH), (local_ms(2026, 1, 10, 1), 1_250 * KWH)]
    async with sessions() as s:
        await add_readings(s, meter, points)
        await s.commit()
    span = [(meter, "energy_import", points[0][0], points[-1][0])]
    await on_readings_committed(sessions, span)
    await billing.on_readings_committed(sessions, span, TZ)
    assert await _live(api) == (250 * KWH, Decimal("147.5500"), 0, -14_755)

    url = f"/api/accounts/{account}/tariff-terms"
    terms = {"cycle_start": "2026-01-01", "household_extra_kwh_month": 100, "prorate_from": None}
    r = await api.client.put(url, json=terms, headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["rerated"] is True
    # a 5-person household: tiers 300/500 kWh, all 250 kWh first tier: 250 x 0.5802 = 145.05
    assert await _live(api) == (250 * KWH, Decimal("145.0500"), 1, -14_505)

    again = await api.client.put(url, json=terms, headers=op)
    assert again.json()["rerated"] is False
    assert await _live(api) == (250 * KWH, Decimal("145.0500"), 1, -14_505)
    got = (await api.client.get(url, headers=await api.login("insp1"))).json()
    assert (got["cycle_start"], got["household_extra_kwh_month"]) == ("2026-01-01", 100)

    bad = {**terms, "household_extra_kwh_month": -1}
    assert (await api.client.put(url, json=bad, headers=op)).status_code == 400
    alice = await api.login("alice")
    assert (await api.client.put(url, json=terms, headers=alice)).status_code == 403
    _pin_clock(api, 2026, 1, 20)
    tier = (await api.client.get(f"/api/accounts/{account}/tier", headers=alice)).json()
    assert (tier["tier"], tier["next_threshold_wh"], tier["left_wh"]) == (1, 300_000, 50_000)
    assert tier["cycle_end"] == "2026-01-31"


CI = """
[[tariff]]
code = "CI-2P-TEST"
name = "工商业 两部制"
category = "commercial"
schedule = "ci-two-part"
effective_from = 2026-01-01
power_factor_target = 0.90
[tariff.basic_charge]
per = "kva"
price = 23.3
[tariff.periods]
peak = ["08:00-22:00"]
valley = ["22:00-08:00"]
[tariff.prices]
peak = 0.8820
valley = 0.2940
"""


async def test_a_key_accounts_monthly_bill_explains_every_line_and_sums_to_its_total(
    tariff_api: Api,
) -> None:
    api = tariff_api
    async with session_factory(api.engine)() as s:
        await store_tariffs(s, parse_tariffs(CI))
        await s.commit()
    op = await api.login("op")
    account, meter = api.world.bob_account, api.world.bob_meter
    r = await api.client.post(
        f"/api/accounts/{account}/tariff-assignments",
        json={"schedule": "ci-two-part", "effective_from": "2026-01-01"}, headers=op,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await api.client.put(
        f"/api/accounts/{account}/tariff-terms", json={"capacity_kva": 315}, headers=op
    )
    assert r.status_code == 200, r.text
    sessions = session_factory(api.engine)
    energy = [(local_ms(2026, 3, 10, 10), 5_000 * KWH), (local_ms(2026, 3, 10, 11), 6_000 * KWH)]
    reactive = [(local_ms(2026, 2, 28, 23), 100 * KWH), (local_ms(2026, 3, 31, 23), 850 * KWH)]
    async with sessions() as s:
        await add_readings(s, meter, energy)
        await add_readings(s, meter, reactive, quantity="reactive_energy_import")
        await s.commit()
    span = [(meter, "energy_import", energy[0][0], energy[-1][0])]
    await on_readings_committed(sessions, span)
    await billing.on_readings_committed(sessions, span, TZ)

    r = await api.client.get(
        f"/api/accounts/{account}/bills/2026-03", headers=await api.login("bob")
    )
    assert r.status_code == 200, r.text
    bill = r.json()
    # 1,000 kWh peak x 0.882 = 882.00; 315 kVA x 23.3 = 7,339.50; base 8,221.50;
    # cos = 1,000 / sqrt(1,000^2 + 750^2) = 0.80, against 0.90: +5 % = 411.075;
    # total 8,632.575 -> 8,632.58
    assert [(ln["code"], ln["amount_fen"]) for ln in bill["lines"]] == [
        ("bill.energy", 88_200), ("bill.basic.capacity", 733_950), ("bill.power_factor", 41_108),
    ]  # fmt: skip
    assert bill["lines"][0]["params"] == {
        "tier": 1, "period": "peak", "energy_wh": 1_000_000, "price": "0.8820",
    }  # fmt: skip
    assert (bill["total_fen"], bill["power_factor"], bill["due_on"]) == (
        863_258, "0.80", "2026-04-15",
    )  # fmt: skip
    assert sum(ln["amount_fen"] for ln in bill["lines"]) == bill["total_fen"]
    other = await api.client.get(
        f"/api/accounts/{account}/bills/2026-03", headers=await api.login("alice")
    )
    assert other.status_code == 404
    bad = await api.client.get(f"/api/accounts/{account}/bills/2026-13", headers=op)
    assert bad.status_code == 400


async def test_tier_terms_out_of_any_tariffs_years_are_refused_naming_the_field(
    tariff_api: Api,
) -> None:
    api = tariff_api
    url = f"/api/accounts/{api.world.alice_account}/tariff-terms"
    r = await api.client.put(url, json={"cycle_start": "0001-01-01"}, headers=await api.login("op"))
    assert r.status_code == 400
    assert (r.json()["code"], r.json()["field"]) == ("error.bad_date", "cycle_start")


async def test_the_same_assignment_sent_five_times_at_once_is_stored_once(tariff_api: Api) -> None:
    api = tariff_api
    await _load(api.engine)
    op = await api.login("op")
    url = f"/api/accounts/{api.world.alice_account}/tariff-assignments"
    body = {"schedule": "zj-residential-tou", "effective_from": "2026-03-01"}
    answers = await asyncio.gather(*(api.client.post(url, json=body, headers=op) for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    listing = (await api.client.get(url, headers=op)).json()
    assert len(listing["items"]) == 1


async def test_a_household_compares_its_own_billed_year_with_time_of_use(tariff_api: Api) -> None:
    api = tariff_api
    await _load(api.engine)
    # 8 kWh from 20:00 on 28 Feb to 04:00 on 1 Mar on RES-2026 (3.9064 元, 3.91)
    await _bill_hours(api, (2026, 2, 28, 20), 8)
    _pin_clock(api, 2026, 3, 10)
    alice = await api.login("alice")
    url = f"/api/accounts/{api.world.alice_account}/tariff-comparison"
    r = await api.client.get(f"{url}?schedule=zj-residential-tou", headers=alice)
    assert r.status_code == 200, r.text
    got = r.json()
    # on the Zhejiang TOU tariff: 20:00-22:00 peak 2 x 0.568 = 1.136, 22:00-04:00 valley
    # 6 x 0.288 = 1.728: 2.864 -> 2.86
    assert (got["from_day"], got["to_day"], got["energy_wh"]) == (
        "2025-03-11",
        "2026-03-10",
        8 * KWH,
    )
    assert (got["billed_fen"], got["alternative_fen"], got["difference_fen"]) == (391, 286, -105)
    assert (await api.client.get(f"{url}?schedule=commercial", headers=alice)).status_code == 422
    assert (await api.client.get(f"{url}?schedule=nowhere", headers=alice)).status_code == 404
    bob = await api.login("bob")
    assert (await api.client.get(f"{url}?schedule=zj-residential", headers=bob)).status_code == 404
    back = f"{url}?schedule=zj-residential&from=2026-03-10&to=2026-03-01"
    assert (await api.client.get(back, headers=alice)).status_code == 400


async def test_a_customer_lists_the_schedules_they_may_compare_and_not_anothers(
    tariff_api: Api,
) -> None:
    api = tariff_api
    await _load(api.engine)
    _pin_clock(api, 2026, 3, 10)
    alice = await api.login("alice")
    url = f"/api/accounts/{api.world.alice_account}/tariff-options"
    r = await api.client.get(url, headers=alice)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["category"], got["on"]) == ("residential", "2026-03-10")
    # her category's schedules in force that day, the one she is billed on first; the
    # commercial and industrial ones are not hers to compare
    assert [(o["schedule"], o["time_of_use"], o["current"]) for o in got["items"]] == [
        ("residential", False, True),
        ("zj-residential", False, False),
        ("zj-residential-tou", True, False),
    ]
    # from the day the schedules start (2026-01-01), a year back once they are older
    assert {o["compare_from"] for o in got["items"]} == {"2026-01-01"}
    _pin_clock(api, 2027, 3, 10)
    got = (await api.client.get(url, headers=alice)).json()
    assert {o["compare_from"] for o in got["items"]} == {"2026-03-11"}
    _pin_clock(api, 2026, 3, 10)
    op = await api.login("op")
    body = {"schedule": "zj-residential-tou", "effective_from": "2026-03-01"}
    assign = f"/api/accounts/{api.world.alice_account}/tariff-assignments"
    assert (await api.client.post(assign, json=body, headers=op)).status_code == 201
    got = (await api.client.get(url, headers=alice)).json()
    assert [o["schedule"] for o in got["items"] if o["current"]] == ["zj-residential-tou"]
    bob = await api.login("bob")
    r = await api.client.get(url, headers=bob)
    assert r.status_code == 404
    assert r.json()["code"] == "error.account_not_found"


async def test_each_round_rates_with_the_tariffs_it_read_before_so_a_days_periods_stand(
    tariff_api: Api,
) -> None:
    """Every billing round reads the stored tariffs; a definition decodes to the same tariff
    each time, so the TOU periods rating worked out for a day under it (kept per tariff) serve
    the next round instead of being worked out, and kept, once more per round."""
    await _load(tariff_api.engine)
    await _bill_hours(tariff_api, (2026, 3, 2, 0), 5)
    worked_out = dict(rating._day_periods)
    assert any(t.code for t, _ in worked_out.values())
    await _bill_hours(tariff_api, (2026, 3, 2, 0), 11, from_hour=6)  # the same day, a new round
    assert rating._day_periods == worked_out
    wh, _, _, _ = await _live(tariff_api)
    assert wh == 11 * KWH
