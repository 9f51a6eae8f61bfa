"""``meterline seed``: a synthetic utility, deterministic, in realistic proportions, and
consistent with what the consumption engine and continuous billing compute from its readings."""

from __future__ import annotations

import hashlib
import itertools
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.db import session_factory
from backend.metering import collection
from backend.metering.consumption import rebuild
from backend.metering.models import (
    CollectionRateDay,
    CollectionRateMark,
    ConsumptionDaily,
    Meter,
    MeterStatus,
    Reading,
)
from backend.prepaid.billing import bill_account
from backend.prepaid.models import Charge, LedgerEntry
from backend.seed import desk, ledger
from backend.seed import service as S
from backend.seed.store import SeedError, seed, seed_history, tariff_schedules
from backend.servicedesk.models import OutageNotice
from backend.servicedesk.orders.models import OrderStatus, WorkOrder, WorkOrderEvent, WorkOrderStep
from backend.settings import Settings
from backend.types import midnight_ms

UNTIL = date(2026, 12, 4)
SPEC = S.SeedSpec(accounts=120, until=UNTIL, seed=7, history_accounts=24, hourly_days=1)
SETTINGS = Settings()


def _pure_hash(spec: S.SeedSpec) -> str:
    h = hashlib.sha256()
    for i in range(spec.accounts):
        c = S.customer(spec, i)
        points = S.reading_points(spec, c)
        h.update(repr(S.entity_rows(spec, S.Ids(), c)).encode())
        h.update(repr(S.reading_rows(spec, S.Ids(), c, points)).encode())
    return h.hexdigest()


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows() -> None:
    small = S.SeedSpec(accounts=40, until=UNTIL, seed=3, history_accounts=8)
    again = S.SeedSpec(accounts=40, until=UNTIL, seed=3, history_accounts=8)
    other = S.SeedSpec(accounts=40, until=UNTIL, seed=4, history_accounts=8)
    assert _pure_hash(small) == _pure_hash(again)
    assert _pure_hash(small) != _pure_hash(other)


def test_a_customer_is_the_same_whatever_the_size_of_the_utility_around_it() -> None:
    a = S.SeedSpec(accounts=50, until=UNTIL, seed=3, history_accounts=50)
    b = S.SeedSpec(accounts=5000, until=UNTIL, seed=3, history_accounts=5000)
    assert S.customer(a, 17) == S.customer(b, 17)


def test_registers_rise_monotonically_in_integer_wh_with_seasonal_load() -> None:
    spec = S.SeedSpec(accounts=40, until=UNTIL, seed=3)
    c = S.customer(spec, 0)
    assert c.category is CustomerCategory.RESIDENTIAL
    points = S.reading_points(spec, c)
    assert all(isinstance(p.value, int) for p in points)
    assert all(b.ts > a.ts and b.value >= a.value for a, b in itertools.pairwise(points))
    by_month: dict[int, int] = {}
    tz = ZoneInfo(spec.timezone)
    for d in S.consumption_rows(spec, S.Ids(), c, points):
        by_month[d[2].month] = by_month.get(d[2].month, 0) + d[3]
    assert len(by_month) == 12
    assert by_month[8] > by_month[4]  # summer air conditioning against spring
    assert points[-1].ts == midnight_ms(UNTIL, tz)


async def _seeded(engine: AsyncEngine) -> None:
    await seed(engine, SPEC, SETTINGS, password_hash="not-a-real-hash")


async def _table_hash(engine: AsyncEngine) -> str:
    h = hashlib.sha256()
    async with engine.connect() as conn:
        for stmt in (
            select(Reading.meter_pk, Reading.quantity, Reading.ts, Reading.value).order_by(
                Reading.meter_pk, Reading.quantity, Reading.ts
            ),
            select(Customer.number, Customer.category, Customer.grid_id).order_by(Customer.id),
            select(Account.number, Account.kind, Account.balance_fen).order_by(Account.id),
            select(
                WorkOrder.kind,
                WorkOrder.status,
                WorkOrder.customer_id,
                WorkOrder.created_at,
                WorkOrder.closed_at,
                WorkOrder.satisfaction,
            ).order_by(WorkOrder.id),
            select(
                OutageNotice.kind,
                OutageNotice.transformer_area_id,
                OutageNotice.starts_at,
                OutageNotice.ended_at,
            ).order_by(OutageNotice.id),
            select(LedgerEntry.id, LedgerEntry.amount_fen, LedgerEntry.balance_after_fen).order_by(
                LedgerEntry.id
            ),
        ):
            for row in await conn.execute(stmt):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


async def test_seeding_is_deterministic_in_the_database(engine: AsyncEngine, tmp_path) -> None:
    from backend import migrate
    from backend.db import create_engine

    await _seeded(engine)
    url = f"sqlite+aiosqlite:///{tmp_path / 'second.db'}"
    migrate.upgrade(url)
    second = create_engine(url)
    try:
        await _seeded(second)
        assert await _table_hash(engine) == await _table_hash(second)
    finally:
        await second.dispose()


async def test_the_utility_has_every_category_protocol_and_realistic_proportions(
    engine: AsyncEngine,
) -> None:
    await _seeded(engine)
    async with engine.connect() as conn:
        cats = set(await conn.scalars(select(Customer.category).distinct()))
        protocols = set(await conn.scalars(select(Meter.protocol).distinct()))
        kinds = dict((await conn.execute(
            select(Account.kind, func.count()).group_by(Account.kind))).all())  # fmt: skip
        arrears = await conn.scalar(
            select(func.count()).where(Account.kind == "prepaid", Account.balance_fen < 0)
        )
        with_history = await conn.scalar(
            select(func.count(func.distinct(Reading.meter_pk))).where(
                Reading.ts < 1_780_000_000_000  # 2026-05-28: before the recent days
            )
        )
        offline = await conn.scalar(
            select(func.count()).where(Meter.online.is_(False), Meter.protocol != "manual")
        )
    assert cats == {c.value for c in CustomerCategory}
    assert protocols == {"dlt645", "modbus", "manual"}
    assert kinds["prepaid"] > 0.8 * SPEC.accounts
    assert 0.05 * SPEC.accounts <= (arrears or 0) <= 0.16 * SPEC.accounts
    assert with_history == SPEC.full  # the full history for exactly the chosen accounts
    assert offline is not None
    assert offline >= 1


async def test_seeded_consumption_is_what_the_consumption_engine_computes(
    engine: AsyncEngine,
) -> None:
    await _seeded(engine)
    d = ConsumptionDaily
    cols = (d.meter_pk, d.day, d.wh, d.first_ts, d.last_ts, d.first_value, d.last_value,
            d.through_ts, d.intervals)  # fmt: skip
    order = (ConsumptionDaily.meter_pk, ConsumptionDaily.day)
    async with engine.connect() as conn:
        seeded = (await conn.execute(select(*cols).order_by(*order))).all()
        pks = list(await conn.scalars(select(Meter.id)))
    assert len(seeded) > 40 * SPEC.accounts
    await rebuild(engine, pks, timezone=SPEC.timezone)
    async with engine.connect() as conn:
        rebuilt = (await conn.execute(select(*cols).order_by(*order))).all()
    assert [tuple(r) for r in rebuilt] == [tuple(r) for r in seeded]


async def test_seeded_charges_are_what_continuous_billing_posts(engine: AsyncEngine) -> None:
    await _seeded(engine)
    tz = ZoneInfo(SPEC.timezone)
    async with session_factory(engine)() as s:
        rows = (await s.execute(
            select(Meter.account_id, Meter.id, func.min(Reading.ts), func.count())
            .join(Reading, Reading.meter_pk == Meter.id)
            .group_by(Meter.account_id, Meter.id).order_by(Meter.id).limit(12)
        )).all()  # fmt: skip
        for account_id, meter_pk, first_ts, _n in rows:
            before = await s.scalar(select(func.count()).where(Charge.account_id == account_id))
            balance = await s.scalar(select(Account.balance_fen).where(Account.id == account_id))
            total = await s.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
                    LedgerEntry.account_id == account_id
                )
            )
            assert balance == total  # the cached balance is the ledger's sum
            result = await bill_account(s, account_id, tz, meter_pk=meter_pk, min_ts=first_ts)
            assert (result.posted, result.reversed, result.kept) == (0, 0, before)
        await s.rollback()


async def test_seeding_twice_with_one_prefix_is_refused(engine: AsyncEngine) -> None:
    spec = S.SeedSpec(accounts=10, until=UNTIL, seed=9)
    await seed(engine, spec, SETTINGS, password_hash="x")
    with pytest.raises(SeedError, match="exist already"):
        await seed(engine, spec, SETTINGS, password_hash="x")


async def test_existing_customers_get_a_year_of_history_once(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as s:
        c = Customer(number="D1", name="演示", category=CustomerCategory.RESIDENTIAL)
        s.add(c)
        await s.flush()
        a = Account(number="AD1", customer_id=c.id, kind=AccountKind.PREPAID)
        s.add(a)
        await s.flush()
        s.add(Meter(meter_id="m-1", protocol="dlt645", customer_id=c.id, account_id=a.id,
                    status=MeterStatus.ACTIVE))  # fmt: skip
        await s.commit()
    assert await seed_history(engine, ["D1", "nobody"], until=UNTIL) == 1
    assert await seed_history(engine, ["D1"], until=UNTIL) == 0  # already has its history
    async with engine.connect() as conn:
        months = set(
            d.strftime("%Y-%m")
            for d in await conn.scalars(select(ConsumptionDaily.day).where(ConsumptionDaily.wh > 0))
        )
        old = (await conn.execute(select(Meter.meter_id, Meter.status).where(
            Meter.customer_id == c.id).order_by(Meter.id))).all()  # fmt: skip
        balance = await conn.scalar(select(Account.balance_fen).where(Account.id == a.id))
        total = await conn.scalar(select(func.sum(LedgerEntry.amount_fen)))
    assert len(months) >= 13
    assert [tuple(r) for r in old] == [("m-1", "active"), ("m-1-old", "removed")]
    assert balance == total
    assert balance is not None
    assert balance >= 0


async def test_history_before_the_first_stored_tariff_gets_an_earlier_tariff(
    engine: AsyncEngine,
) -> None:
    schedules = await tariff_schedules(engine, date(2025, 11, 4))
    day = date(2025, 11, 4)
    assert {c: s.at(day).effective_from for c, s in schedules.items()} == {
        c: date(2025, 1, 1) for c in CustomerCategory
    }
    assert date(2000, 1, 1) == ledger.NO_CYCLE_ANCHOR


async def test_the_collection_rates_recent_days_are_counted_by_the_seed(
    engine: AsyncEngine,
) -> None:
    """The first operator to open the collection rate after a seed reads the summary instead of
    counting every meter of every day while the others wait (30 s at 200,000)."""
    await _seeded(engine)
    tz = ZoneInfo(SETTINGS.timezone)
    days = [date.fromordinal(UNTIL.toordinal() - n) for n in range(SPEC.recent_days, 0, -1)]
    async with session_factory(engine)() as s:
        marked = set(await s.scalars(select(CollectionRateMark.day)))
        stored = {
            (d, g, a): (e, c)
            for d, g, a, e, c in await s.execute(
                select(CollectionRateDay.day, CollectionRateDay.grid_id,
                       CollectionRateDay.transformer_area_id, CollectionRateDay.expected,
                       CollectionRateDay.collected)
            )
        }  # fmt: skip
        counted = await collection.count_days(s, days, tz)
    assert marked == set(days)
    recount = {(d, g, a): tuple(v) for d, groups in counted.items() for (g, a), v in groups.items()}
    assert stored == recount
    assert sum(c for _, c in stored.values()) > 0


async def test_the_service_desk_has_work_orders_and_outages_made_as_the_api_makes_them(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work orders of the recent days, most of those older than a day closed and visited, the
    last day's open, faults dispatched to the grid's inspector; outages ended and to come.
    (One order per two customers here instead of per 200: 120 customers make enough to count.)"""
    monkeypatch.setattr(desk, "CUSTOMERS_PER_ORDER", 2)
    await _seeded(engine)
    clock = SPEC.clock
    async with session_factory(engine)() as s:
        orders = list(await s.scalars(select(WorkOrder).order_by(WorkOrder.id)))
        steps = set(await s.scalars(select(WorkOrderStep.order_id)))
        events = set(await s.scalars(select(WorkOrderEvent.order_id)))
        outages = list(await s.scalars(select(OutageNotice).order_by(OutageNotice.id)))
    assert len(orders) == round(SPEC.accounts * SPEC.recent_days / 30 / 2)
    assert {o.id for o in orders} == steps == events  # each with its workflow's rows
    old = [o for o in orders if clock - o.created_at >= timedelta(days=1)]
    closed = [o for o in orders if o.status is OrderStatus.CLOSED]
    assert all(clock - o.created_at >= timedelta(days=1) for o in closed)
    assert all(o.status is OrderStatus.OPEN for o in orders if o not in old)
    assert 0.75 * len(old) <= len(closed) < len(old)  # most; a few still open
    visited = [o.satisfaction for o in closed if o.satisfaction is not None]
    assert 0.6 * len(closed) <= len(visited) < len(closed)
    assert set(visited) <= {1, 2, 3, 4, 5}
    assert all(o.created_at <= o.closed_at <= clock for o in closed if o.closed_at)
    faults = [o for o in closed if o.kind == "fault"]
    assert faults
    assert all(o.crew_id is not None for o in faults)
    assert {o.kind for o in orders} == {k.value for k in desk.ORDERS}
    ended = [o for o in outages if o.ended_at is not None]
    to_come = [o for o in outages if o.starts_at > clock]
    assert (len(ended), len(to_come), len(outages)) == (1, 2, 3)
    assert all(o.starts_at < o.ended_at < clock for o in ended if o.ended_at)
    assert all(o.created_at < clock for o in outages)  # announced in the seeded past
