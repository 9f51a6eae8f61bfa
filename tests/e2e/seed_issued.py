"""The customer of the issued-bill journey (tests/e2e/test_issued_bills.py): a postpaid
household on the e2e monthly 阶梯 (tests/e2e/seed_bills.py) that used 20 kWh two months ago;
that month's bill is issued, overdue since the 15th of last month, its late fees posted to
today and its overdue reminder queued. A time-of-use schedule of the same category (its own,
assigned to no account) is what the tariff comparison journey prices that month on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.service import create_user
from backend.db import session_factory
from backend.importer.schemas import CustomerRow, MeterRow
from backend.importer.service import ImportOptions, upsert_customer, upsert_meter
from backend.metering.models import Meter
from backend.prepaid import billing, ledger
from backend.prepaid.models import EntryKind, NoticeChannel
from backend.tariffs.bills import service as bills
from backend.tariffs.loader import parse_tariffs
from backend.tariffs.service import assign, store_tariffs
from tests.support.readings import commit_readings

TZ = ZoneInfo("Asia/Shanghai")
TOU = """
[[tariff]]
code = "E2E-RES-TOU"
name = "居民 峰谷 (e2e)"
category = "residential"
schedule = "e2e-residential-tou"
effective_from = 2020-01-01
cycle = "monthly"
tiers_kwh = [200, 400]
[tariff.periods]
peak = ["08:00-22:00"]
valley = ["22:00-08:00"]
[tariff.prices]
peak = [0.5683, 0.6183, 0.8683]
valley = [0.2883, 0.3383, 0.5883]
"""


def months_back(today: date, n: int) -> date:
    first = today.replace(day=1)
    for _ in range(n):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


async def issued_customer(session: AsyncSession, engine: AsyncEngine, password: str) -> None:
    """After ``bills_customer`` (its tariff schedule)."""
    await store_tariffs(session, parse_tariffs(TOU))
    await upsert_customer(
        session,
        CustomerRow(
            number="E2EI01", name="周明", category=CustomerCategory.RESIDENTIAL,
            address="文三路 11 号", grid_code="GE2I1", grid_name="网格 issued",
            account_number="ACCI01", account_kind=AccountKind.POSTPAID,
        ),
        ImportOptions(TZ),
    )  # fmt: skip
    await upsert_meter(
        session, MeterRow(meter_id="M-ISSUED-1", customer_number="E2EI01"), ImportOptions(TZ)
    )
    account = await session.scalar(
        select(Account).join(Customer).where(Customer.number == "E2EI01")
    )
    assert account is not None
    today = datetime.now(TZ).date()
    used = months_back(today, 2)
    await assign(
        session, account, CustomerCategory.RESIDENTIAL, "e2e-residential-monthly", used, "e2e"
    )
    await session.commit()
    meter_pk = await session.scalar(select(Meter.id).where(Meter.meter_id == "M-ISSUED-1"))
    assert meter_pk is not None
    start = datetime(used.year, used.month, 2, 10, tzinfo=TZ)
    points = [
        (int((start + timedelta(hours=h)).timestamp() * 1000), 80_000 + h * 10_000)
        for h in range(3)
    ]  # 10 kWh an hour for two hours: 20 kWh
    await commit_readings(engine, meter_pk, points)
    sessions = session_factory(engine)
    await billing.bill_meters(sessions, {meter_pk: None}, TZ)
    now = datetime.now(UTC)
    await bills.issue_all(sessions, f"{used.year:04d}-{used.month:02d}", TZ, due_day=15, now=now)
    async with sessions() as s, s.begin():
        acc = await s.get(Account, account.id)
        assert acc is not None
        await bills.post_late_fees(s, acc, True, today, TZ)
        await bills.remind(s, acc, today, overdue_days=7, channels=[NoticeChannel.APP], now=now)
    await create_user(
        session,
        UserCreate(username="cust-issued", password=password, role=Role.CUSTOMER,
                   customer_number="E2EI01"),
    )  # fmt: skip


async def revised_customer(session: AsyncSession, engine: AsyncEngine, password: str) -> None:
    """A postpaid household whose last month's bill (20 kWh, ¥9.77) was issued and then revised
    by a late reading (10 kWh more: 30 kWh × 0.4883 = 14.649, ¥14.65); paid in full, so it is
    in no arrears list. After ``issued_customer``."""
    await upsert_customer(
        session,
        CustomerRow(
            number="E2EI02", name="吴芳", category=CustomerCategory.RESIDENTIAL,
            address="文三路 13 号", grid_code="GE2I2", grid_name="网格 revised",
            account_number="ACCI02", account_kind=AccountKind.POSTPAID,
        ),
        ImportOptions(TZ),
    )  # fmt: skip
    await upsert_meter(
        session, MeterRow(meter_id="M-REVISED-1", customer_number="E2EI02"), ImportOptions(TZ)
    )
    account = await session.scalar(
        select(Account).join(Customer).where(Customer.number == "E2EI02")
    )
    assert account is not None
    used = months_back(datetime.now(TZ).date(), 1)
    month = f"{used.year:04d}-{used.month:02d}"
    await assign(
        session, account, CustomerCategory.RESIDENTIAL, "e2e-residential-monthly", used, "e2e"
    )
    await session.commit()
    meter_pk = await session.scalar(select(Meter.id).where(Meter.meter_id == "M-REVISED-1"))
    assert meter_pk is not None

    def at(day: int, hour: int) -> int:
        return int(datetime(used.year, used.month, day, hour, tzinfo=TZ).timestamp() * 1000)

    await commit_readings(engine, meter_pk, [(at(2, 10), 80_000), (at(2, 12), 100_000)])
    sessions = session_factory(engine)
    await billing.bill_meters(sessions, {meter_pk: None}, TZ)
    now = datetime.now(UTC)
    async with sessions() as s, s.begin():
        acc = await s.get(Account, account.id)
        assert acc is not None
        await bills.issue(s, acc, CustomerCategory.RESIDENTIAL, month, TZ, due_day=15, now=now)
    await commit_readings(engine, meter_pk, [(at(3, 10), 110_000)])  # late: 10 kWh more
    await billing.bill_meters(sessions, {meter_pk: at(3, 10)}, TZ)  # re-rated: revision 1
    async with sessions() as s, s.begin():
        await ledger.lock_account(s, account.id)
        await ledger.post(s, account.id, EntryKind.TOP_UP, 10_000, actor="e2e")
    await create_user(
        session,
        UserCreate(username="cust-revised", password=password, role=Role.CUSTOMER,
                   customer_number="E2EI02"),
    )  # fmt: skip
