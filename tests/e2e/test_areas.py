"""Transformer areas: meters in one area lose power (their power-failure events stored as
ingestion stores them); the server's correlator opens one outage; the operator sees it live on
the Areas screen in zh-CN, the affected customer sees it in English and the unaffected
neighbour does not; power comes back and both screens say so. An agent's last will beside a
dark area of its feeder shows as a suspected outage with the feeder's one work order."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert, select

from backend.accounts.models import AccountKind, CustomerCategory
from backend.areas.models import AreaSupply, Feeder, Substation
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.service import create_user
from backend.db import create_engine, session_factory
from backend.field.grids.models import TransformerArea
from backend.importer.schemas import CustomerRow, MeterRow
from backend.importer.service import ImportOptions, upsert_customer, upsert_meter
from backend.metering.models import Agent as AgentRow
from backend.metering.models import Meter, MeterEvent
from protocols.contract.messages import EventKind
from tests.e2e.conftest import Phone, Server, log_in, shot
from tests.e2e.seed import PASSWORD, TZ

pytestmark = pytest.mark.e2e

OPTS = ImportOptions(TZ)
LIVE = 20_000  # ms: the correlator runs every 2 s, the Areas screen refreshes every 10 s


async def _area(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            for number, name, meter in (("E2EA00", "沈悦", "M-AREA-1"),
                                        ("E2EA01", "陆川", "M-AREA-2")):  # fmt: skip
                await upsert_customer(s, CustomerRow(
                    number=number, name=name, category=CustomerCategory.RESIDENTIAL,
                    address="教工路 9 号", grid_code="GE2EA", grid_name="网格 areas",
                    area_code="TA-E2E", area_name="教工路台区", account_number=f"A{number}",
                    account_kind=AccountKind.POSTPAID,
                ), OPTS)  # fmt: skip
                await upsert_meter(s, MeterRow(meter_id=meter, customer_number=number), OPTS)
            await upsert_meter(s, MeterRow(meter_id="M-AREA-TOTAL"), OPTS)
            await s.commit()
            area = await s.scalar(
                select(TransformerArea.id).where(TransformerArea.code == "TA-E2E")
            )
            pks = dict((await s.execute(select(Meter.meter_id, Meter.id))).all())
            station = Substation(code="S-E2E", name="教工变")
            s.add(station)
            await s.flush()
            feeder = Feeder(code="F-E2E", name="教工线", substation_id=station.id)
            s.add(feeder)
            await s.flush()
            assert area is not None
            s.add(AreaSupply(transformer_area_id=area, feeder_id=feeder.id, rated_kva=200,
                             total_meter_pk=pks["M-AREA-TOTAL"], ct_ratio=20))  # fmt: skip
            for username, number in (("cust-dark", "E2EA00"), ("cust-lit", "E2EA01")):
                user = UserCreate(username=username, password=PASSWORD, role=Role.CUSTOMER,
                                  customer_number=number)  # fmt: skip
                await create_user(s, user)
            return {"area": area, **pks}
    finally:
        await engine.dispose()


async def _events(database_url: str, kind: EventKind, meters: list[int], ts: int) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(MeterEvent), [
                {"meter_pk": m, "ts": ts, "kind": kind, "received_at": ts} for m in meters
            ])  # fmt: skip
    finally:
        await engine.dispose()


def _run(coro: object) -> object:
    with ThreadPoolExecutor(1) as pool:  # the test's own loop may be running
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


def test_an_area_outage_found_from_the_meters_shows_live_to_the_operator_and_the_customer(
    phone: Phone, server: Server
) -> None:
    ids: dict[str, int] = _run(_area(server.database_url))  # type: ignore[assignment]
    off = int(time.time() * 1000) - 60_000
    _run(_events(server.database_url, EventKind.POWER_FAILURE,
                 [ids["M-AREA-TOTAL"], ids["M-AREA-1"]], off))  # fmt: skip

    op = phone(locale="zh-CN").new_page()
    log_in(op, "op-a", "/operator")
    op.get_by_role("link", name="台区", exact=True).click()
    row = op.get_by_test_id("area-TA-E2E")
    expect(row.get_by_test_id("outage-state")).to_contain_text(
        "停电：2 块表中 2 块失电，影响 1 户", timeout=LIVE
    )
    expect(row).to_contain_text("F-E2E · S-E2E")
    expect(row).to_contain_text("2 块电表")
    expect(op.get_by_test_id("area-outages")).to_contain_text("教工路台区")
    expect(op.get_by_test_id("area-outages")).to_contain_text("故障停电")
    signal = op.get_by_test_id("outage-signal").first
    expect(signal).to_contain_text("研判来源：总线静默")
    expect(signal).to_contain_text(re.compile(r"工单 #\d+"))
    shot(op, "operator-areas-outage-zh")
    row.get_by_role("button", name=re.compile("TA-E2E")).click()
    detail = op.get_by_test_id("area-detail")
    expect(detail).to_contain_text("台区总表 M-AREA-TOTAL，CT 20，PT 1")
    detail.get_by_test_id("drill-cut").click()  # the server has no simulators to cut
    expect(detail).to_contain_text("停电演练只能用于演示的模拟电表。")

    dark = phone(locale="en").new_page()
    log_in(dark, "cust-dark", "/customer")
    mine = dark.get_by_test_id("my-outage")
    expect(mine).to_contain_text("Power cut in your area")
    expect(mine).to_contain_text("The supply in 教工路台区 has been off since")
    shot(dark, "customer-area-outage-en")
    lit = phone(locale="en").new_page()
    log_in(lit, "cust-lit", "/customer")
    expect(lit.get_by_test_id("balance-card").or_(lit.get_by_text("No notices"))).not_to_have_count(
        0
    )
    expect(lit.get_by_test_id("my-outage")).to_have_count(0)

    _run(_events(server.database_url, EventKind.POWER_RESTORED,
                 [ids["M-AREA-TOTAL"], ids["M-AREA-1"]], off + 30_000))  # fmt: skip
    expect(row.get_by_test_id("outage-state")).to_have_text("正常供电", timeout=LIVE)
    expect(op.get_by_test_id("area-outages")).to_contain_text("影响 1 户")
    dark.reload()
    expect(dark.get_by_test_id("my-outage")).to_contain_text("Power is back")
    expect(dark.get_by_test_id("my-outage")).to_contain_text("was restored at")


async def _feeder_with_a_dead_agent(database_url: str) -> dict[str, int]:
    """Feeder F-E2EW with two areas of its own: TA-E2EW1 read by agent-e2e-1, TA-E2EW2 by
    agent-e2e-will, which the broker has just announced dead (its last will, as ingestion
    records it: offline, with the moment)."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            s.add_all([AgentRow(id="agent-e2e-1", online=True),
                       AgentRow(id="agent-e2e-will", online=True)])  # fmt: skip
            await s.flush()
            for number, name, area, meter, agent in (
                ("E2EW00", "钱塘", "TA-E2EW1", "M-WILL-1", "agent-e2e-1"),
                ("E2EW01", "西溪", "TA-E2EW2", "M-WILL-2", "agent-e2e-will"),
            ):
                await upsert_customer(s, CustomerRow(
                    number=number, name=name, category=CustomerCategory.RESIDENTIAL,
                    address="文一路 1 号", grid_code="GE2EW", grid_name="网格 wills",
                    area_code=area, area_name=f"{name}台区", account_number=f"A{number}",
                    account_kind=AccountKind.POSTPAID,
                ), OPTS)  # fmt: skip
                row = MeterRow(meter_id=meter, customer_number=number, protocol="dlt645",
                               agent_id=agent)  # fmt: skip
                await upsert_meter(s, row, OPTS)
            await s.flush()
            station = Substation(code="S-E2EW", name="文一变")
            s.add(station)
            await s.flush()
            feeder = Feeder(code="F-E2EW", name="文一线", substation_id=station.id)
            s.add(feeder)
            await s.flush()
            areas = dict((await s.execute(select(TransformerArea.code, TransformerArea.id))).all())
            for code in ("TA-E2EW1", "TA-E2EW2"):
                s.add(AreaSupply(transformer_area_id=areas[code], feeder_id=feeder.id,
                                 rated_kva=200))  # fmt: skip
            pks = dict((await s.execute(select(Meter.meter_id, Meter.id))).all())
            await s.commit()
            return {"M-WILL-1": pks["M-WILL-1"]}
    finally:
        await engine.dispose()


async def _agent_died(database_url: str, agent: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            row = await s.get(AgentRow, agent)
            assert row is not None
            row.online, row.died_at = False, datetime.now(UTC)
            await s.commit()
    finally:
        await engine.dispose()


def test_an_agents_last_will_beside_a_dark_area_of_its_feeder_shows_as_a_suspected_outage(
    phone: Phone, server: Server
) -> None:
    ids: dict[str, int] = _run(_feeder_with_a_dead_agent(server.database_url))  # type: ignore[assignment]
    now = int(time.time() * 1000)
    _run(_events(server.database_url, EventKind.POWER_FAILURE, [ids["M-WILL-1"]], now - 30_000))
    _run(_agent_died(server.database_url, "agent-e2e-will"))

    op = phone(locale="en").new_page()
    log_in(op, "op-a", "/operator")
    op.get_by_role("link", name="Areas", exact=True).click()
    row = op.get_by_test_id("area-TA-E2EW2")
    expect(row.get_by_test_id("unknown-meters")).to_have_text(
        "1 meters of unknown state (their agent is offline)", timeout=LIVE
    )
    expect(row.get_by_test_id("outage-state")).to_contain_text(
        "Outage: 1 of 1 meters dark, 1 customers", timeout=LIVE
    )
    outage = op.get_by_test_id("area-outages").locator("li", has_text="西溪台区")
    expect(outage.get_by_test_id("outage-signal")).to_contain_text(
        "Found from: agent last will · suspected: known only from its agent’s last will"
    )
    lit = op.get_by_test_id("area-outages").locator("li", has_text="钱塘台区")
    expect(lit.get_by_test_id("outage-signal")).to_contain_text("Found from: bus silence")
    feeder = op.locator("li", has_text="F-E2EW 文一线")
    expect(feeder).to_contain_text("2 areas dark since", timeout=LIVE)
    expect(feeder.get_by_test_id("feeder-order")).to_contain_text(
        re.compile(r"One work order for the feeder: #\d+")
    )
    shot(op, "operator-areas-agent-will-en")


async def _theft_area(database_url: str) -> None:
    """Area TA-E2ET (its own, on the operator's grid): a total meter behind a 10:1 CT at
    25 kWh a day, 沈青 steady at 10 kWh and 陆安 at 8 kWh until a week ago, 1 kWh a day since."""
    from datetime import date, timedelta

    from backend.metering.models import ConsumptionDaily, Reading

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            for number, name, meter in (("E2ET00", "沈青", "M-THEFT-1"),
                                        ("E2ET01", "陆安", "M-THEFT-2")):  # fmt: skip
                await upsert_customer(s, CustomerRow(
                    number=number, name=name, category=CustomerCategory.RESIDENTIAL,
                    address="教工路 11 号", grid_code="GE2EA", grid_name="网格 areas",
                    area_code="TA-E2ET", area_name="教工路二号台区", account_number=f"A{number}",
                    account_kind=AccountKind.POSTPAID,
                ), OPTS)  # fmt: skip
                await upsert_meter(s, MeterRow(meter_id=meter, customer_number=number,
                                               installed_on=date(2020, 1, 1)), OPTS)  # fmt: skip
            await upsert_meter(s, MeterRow(meter_id="M-THEFT-TOTAL", installed_on=date(2020, 1, 1)),
                               OPTS)  # fmt: skip
            await s.commit()
            area = await s.scalar(
                select(TransformerArea.id).where(TransformerArea.code == "TA-E2ET")
            )
            pks = dict((await s.execute(select(Meter.meter_id, Meter.id))).all())
            station = Substation(code="S-E2ET", name="教工二变")
            s.add(station)
            await s.flush()
            feeder = Feeder(code="F-E2ET", name="教工二线", substation_id=station.id)
            s.add(feeder)
            await s.flush()
            assert area is not None
            s.add(AreaSupply(transformer_area_id=area, feeder_id=feeder.id, rated_kva=200,
                             total_meter_pk=pks["M-THEFT-TOTAL"], ct_ratio=10))  # fmt: skip
            today = datetime.now(TZ).date()
            rows = []
            for back in range(1, 40):
                day = today - timedelta(days=back)
                for meter, wh in (("M-THEFT-TOTAL", 2_500), ("M-THEFT-1", 10_000),
                                  ("M-THEFT-2", 1_000 if back <= 7 else 8_000)):  # fmt: skip
                    rows.append({"meter_pk": pks[meter], "quantity": "energy_import", "day": day,
                                 "wh": wh, "first_ts": 0, "last_ts": 1, "through_ts": 1,
                                 "intervals": 1, "first_value": 0, "last_value": wh})  # fmt: skip
            await s.execute(insert(ConsumptionDaily), rows)
            # the total meter's active power two days ago: 150 kW, then 250 kW on a 200 kVA
            # transformer (× CT 10)
            noon = datetime.combine(today - timedelta(days=2), datetime.min.time(), TZ)
            at = int(noon.timestamp() * 1000) + 12 * 3_600_000
            await s.execute(insert(Reading), [
                {"meter_pk": pks["M-THEFT-TOTAL"], "quantity": "active_power",
                 "ts": at + i * 60_000, "value": v, "quality": "good", "source": "ami",
                 "received_at": at}
                for i, v in enumerate((15_000, 25_000))
            ])  # fmt: skip
            await s.commit()
    finally:
        await engine.dispose()


def test_the_operator_finds_a_meter_whose_use_fell_while_its_areas_loss_rose(
    phone: Phone, server: Server
) -> None:
    _run(_theft_area(server.database_url))
    op = phone(locale="zh-CN").new_page()
    log_in(op, "op-a", "/operator")
    op.get_by_role("link", name="台区", exact=True).click()
    expect(op.get_by_test_id("suspicions")).to_contain_text("暂无嫌疑表计")
    op.get_by_test_id("detect-theft").click()
    expect(op.get_by_role("status").filter(has_text="嫌疑表计")).to_have_text(
        "新发现 1 只嫌疑表计。"
    )
    found = op.get_by_test_id("suspicions")
    expect(found).to_contain_text("TA-E2ET · M-THEFT-2")
    expect(found).to_contain_text("日均 8.00 kWh → 1.00 kWh，线损率 28.0% → 56.0%")
    expect(found).to_contain_text("待核查")
    expect(found).not_to_contain_text("M-THEFT-1")
    shot(op, "operator-areas-theft-zh")
    row = op.get_by_test_id("area-TA-E2ET")
    row.get_by_role("button", name=re.compile("TA-E2ET")).click()
    month = op.get_by_test_id("demand").get_by_role("row").nth(1)
    expect(month).to_contain_text("250.0 kW")
    expect(month).to_contain_text("125.0%")
    expect(month.get_by_role("cell").last).to_have_text("1")
