"""Meters, readings, consumption, anomalies, agents and collection rate over HTTP."""

from __future__ import annotations

from datetime import date

from backend.db import session_factory
from backend.metering.models import MANUAL_PROTOCOL, Meter, MeterStatus
from tests.integration.api.conftest import Api
from tests.support.readings import commit_readings, ms


async def test_readings_are_paged_newest_first_with_a_cursor(api: Api) -> None:
    m = api.world.alice_meter
    await commit_readings(api.engine, m, [(ms(2026, 3, 1, h), 100 * h) for h in range(10)])
    await commit_readings(api.engine, m, [(ms(2026, 3, 1, 5), 230_000)], quantity="voltage_a")
    op = await api.login("op")
    url = f"/api/meters/{m}/readings?quantity=energy_import&limit=4"
    seen: list[int] = []
    cursor = None
    while True:
        r = await api.client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=op)
        assert r.status_code == 200
        page = r.json()
        seen += [x["value"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [100 * h for h in reversed(range(10))]


async def test_readings_filter_by_time_range_and_quantity(api: Api) -> None:
    m = api.world.alice_meter
    await commit_readings(api.engine, m, [(ms(2026, 3, 1, h), 100 * h) for h in range(10)])
    await commit_readings(api.engine, m, [(ms(2026, 3, 1, 5), 230_000)], quantity="voltage_a")
    r = await api.client.get(
        f"/api/meters/{m}/readings",
        params={"from": "2026-03-01T03:00:00Z", "to": "2026-03-01T06:00:00+00:00"},
        headers=await api.login("alice"),
    )
    assert r.status_code == 200
    got = [(x["ts"], x["quantity"], x["value"]) for x in r.json()["items"]]
    assert got == [
        ("2026-03-01T05:00:00Z", "energy_import", 500),
        ("2026-03-01T05:00:00Z", "voltage_a", 230_000),
        ("2026-03-01T04:00:00Z", "energy_import", 400),
        ("2026-03-01T03:00:00Z", "energy_import", 300),
    ]


async def test_a_time_without_offset_is_400_naming_the_parameter(api: Api) -> None:
    r = await api.client.get(
        f"/api/meters/{api.world.alice_meter}/readings?from=2026-03-01T03:00:00",
        headers=await api.login("op"),
    )
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "from"


async def test_a_limit_over_500_is_400_naming_the_parameter(api: Api) -> None:
    r = await api.client.get("/api/meters?limit=501", headers=await api.login("op"))
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "limit"


async def test_daily_monthly_and_interval_consumption_of_a_meter(api: Api) -> None:
    m = api.world.alice_meter
    await commit_readings(api.engine, m, [
        (ms(2026, 1, 31, 4), 1_000), (ms(2026, 1, 31, 10), 1_500),  # 31 Jan local
        (ms(2026, 2, 1, 4), 2_500), (ms(2026, 2, 2, 4), 4_000),  # 1 and 2 Feb local
    ])  # fmt: skip
    alice = await api.login("alice")
    daily = await api.client.get(
        f"/api/meters/{m}/consumption/daily?from=2026-01-31&to=2026-02-28", headers=alice
    )
    assert [(d["day"], d["wh"]) for d in daily.json()] == [
        ("2026-01-31", 500), ("2026-02-01", 1_000), ("2026-02-02", 1_500),
    ]  # fmt: skip
    monthly = await api.client.get(
        f"/api/meters/{m}/consumption/monthly?from=2026-01&to=2026-02", headers=alice
    )
    assert [(x["month"], x["wh"]) for x in monthly.json()] == [("2026-01", 500), ("2026-02", 2_500)]
    intervals = await api.client.get(
        f"/api/meters/{m}/consumption/intervals",
        params={"from": "2026-01-31T05:00:00Z", "to": "2026-02-03T00:00:00Z"},
        headers=alice,
    )
    assert [i["wh"] for i in intervals.json()] == [500, 1_000, 1_500]


async def test_customer_and_account_consumption_sum_their_meters(api: Api) -> None:
    m = api.world.alice_meter
    await commit_readings(api.engine, m, [(ms(2026, 2, 1, 1), 0), (ms(2026, 2, 1, 3), 250)])
    alice = await api.login("alice")
    for path in (f"/api/customers/{api.world.alice}", f"/api/accounts/{api.world.alice_account}"):
        r = await api.client.get(f"{path}/consumption/daily?from=2026-02-01&to=2026-02-01",
                                 headers=alice)  # fmt: skip
        assert [(d["day"], d["wh"], d["meters"]) for d in r.json()] == [("2026-02-01", 250, 1)]


async def test_a_day_range_ending_before_it_starts_is_400(api: Api) -> None:
    r = await api.client.get(
        f"/api/meters/{api.world.alice_meter}/consumption/daily?from=2026-02-02&to=2026-02-01",
        headers=await api.login("op"),
    )
    assert r.status_code == 400
    assert r.json()["extra"] == [{"key": "to", "message": "must not be before from"}]


async def test_anomalies_are_listed_for_staff(api: Api) -> None:
    m = api.world.bob_meter
    await commit_readings(api.engine, m, [(ms(2026, 2, 1, 1), 9_000), (ms(2026, 2, 1, 2), 10)])
    r = await api.client.get("/api/anomalies", headers=await api.login("op"))
    assert r.status_code == 200
    item = r.json()["items"][0]
    assert (item["meter_id"], item["value"], item["previous_value"]) == ("M-BOB", 10, 9_000)
    # bob's meter is in grid 2: the inspector of grid 1 does not see it
    r1 = await api.client.get("/api/anomalies", headers=await api.login("insp1"))
    assert r1.json()["total"] == 0


async def test_offline_pending_and_agents_lists(api: Api) -> None:
    op = await api.login("op")
    offline = await api.client.get("/api/meters/offline", headers=op)
    assert [m["meter_id"] for m in offline.json()["items"]] == ["M-BOB"]
    pending = await api.client.get("/api/meters/pending", headers=op)
    assert [m["meter_id"] for m in pending.json()["items"]] == ["M-NEW"]
    agents = await api.client.get("/api/agents", headers=op)
    assert [(a["id"], a["online"], a["meters"]) for a in agents.json()["items"]] == [
        ("agent-1", True, 3)
    ]


async def test_meter_list_filters_and_pages_with_a_total(api: Api) -> None:
    op = await api.login("op")
    r = await api.client.get("/api/meters?status=active&limit=1&offset=1", headers=op)
    body = r.json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 1, 1)
    assert [m["meter_id"] for m in body["items"]] == ["M-BOB"]
    r = await api.client.get(f"/api/meters?transformer_area_id={api.world.area1}", headers=op)
    assert [m["meter_id"] for m in r.json()["items"]] == ["M-ALICE"]


async def test_collection_rate_overall_and_per_transformer_area(api: Api) -> None:
    # 2 March local: alice's meter read at 00:00 (closing 1 March) and at noon; bob's never
    await commit_readings(api.engine, api.world.alice_meter, [
        (ms(2026, 3, 1, 16), 1_000), (ms(2026, 3, 2, 4), 1_200),
    ])  # fmt: skip
    op = await api.login("op")
    overall = await api.client.get("/api/collection-rate?from=2026-03-01&to=2026-03-02", headers=op)
    assert [
        (r["day"], r["expected"], r["collected"], r["rate"]) for r in overall.json()["items"]
    ] == [
        ("2026-03-01", 2, 1, 0.5),  # the midnight reading belongs to 1 March
        ("2026-03-02", 2, 1, 0.5),
    ]
    by_area = await api.client.get(
        "/api/collection-rate?from=2026-03-02&to=2026-03-02&group=transformer_area", headers=op
    )
    assert [(r["group_code"], r["collected"], r["rate"]) for r in by_area.json()["items"]] == [
        ("TA1", 1, 1.0), ("TA2", 0, 0.0),
    ]  # fmt: skip
    mine = await api.client.get(
        "/api/collection-rate?from=2026-03-02&to=2026-03-02&group=grid",
        headers=await api.login("insp2"),
    )
    assert [(r["group_code"], r["expected"], r["collected"]) for r in mine.json()["items"]] == [
        ("G2", 1, 0)
    ]


async def test_manual_read_meters_count_neither_in_the_collection_rate_nor_as_offline(
    api: Api,
) -> None:
    async with session_factory(api.engine)() as s:
        s.add(Meter(meter_id="M-MANUAL", protocol=MANUAL_PROTOCOL, customer_id=api.world.alice,
                    status=MeterStatus.ACTIVE, installed_on=date(2025, 1, 1)))  # fmt: skip
        await s.commit()
    await commit_readings(api.engine, api.world.alice_meter, [(ms(2026, 3, 2, 4), 1_200)])
    op = await api.login("op")
    rate = await api.client.get("/api/collection-rate?from=2026-03-02&to=2026-03-02", headers=op)
    assert [(r["expected"], r["collected"], r["rate"]) for r in rate.json()["items"]] == [
        (2, 1, 0.5)
    ]
    offline = await api.client.get("/api/meters/offline", headers=op)
    assert [m["meter_id"] for m in offline.json()["items"]] == ["M-BOB"]


async def test_an_unknown_query_parameter_is_400_not_silently_ignored(api: Api) -> None:
    r = await api.client.get("/api/meters?customerid=1", headers=await api.login("op"))
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "customerid"


async def test_a_number_is_not_a_time(api: Api) -> None:
    r = await api.client.get("/api/anomalies?to=0.5", headers=await api.login("op"))
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "to"


async def test_paging_never_splits_or_skips_readings_sharing_a_timestamp(api: Api) -> None:
    m = api.world.alice_meter
    quantities = ["energy_import", "energy_import_t1", "energy_import_t2", "voltage_a"]
    for q in quantities:
        await commit_readings(api.engine, m, [(ms(2026, 3, 1, h), h) for h in range(3)],
                              quantity=q, hook=False)  # fmt: skip
    op = await api.login("op")
    seen: list[tuple[int, str]] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get(f"/api/meters/{m}/readings", params=params, headers=op)).json()
        seen += [(x["ts_ms"], x["quantity"]) for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [(ms(2026, 3, 1, h), q) for h in (2, 1, 0) for q in sorted(quantities)]
