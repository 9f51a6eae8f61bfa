"""The customer of the tier journey (tests/e2e/test_bills.py): a household assigned its own
tariff schedule (a monthly 阶梯 of 200/400 kWh), with 10 kWh billed today. Only this account
follows that schedule, so no other journey's account is billed."""

from __future__ import annotations

from datetime import datetime, timedelta
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
from backend.prepaid import billing
from backend.tariffs.loader import parse_tariffs
from backend.tariffs.service import assign, store_tariffs
from tests.support.readings import commit_readings

TARIFF = """
[[tariff]]
code = "E2E-RES-M"
name = "居民 月阶梯 (e2e)"
category = "residential"
schedule = "e2e-residential-monthly"
effective_from = 2020-01-01
cycle = "monthly"
tiers_kwh = [200, 400]
[tariff.prices]
flat = [0.4883, 0.5383, 0.7883]
"""


async def bills_customer(session: AsyncSession, engine: AsyncEngine, password: str) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    await store_tariffs(session, parse_tariffs(TARIFF))
    await upsert_customer(
        session,
        CustomerRow(
            number="E2EB01", name="林晓", category=CustomerCategory.RESIDENTIAL,
            address="文三路 9 号", grid_code="GE2B1", grid_name="网格 bills",
            account_number="ACCB01", account_kind=AccountKind.PREPAID,
        ),
        ImportOptions(tz),
    )  # fmt: skip
    await upsert_meter(
        session, MeterRow(meter_id="M-BILLS-1", customer_number="E2EB01"), ImportOptions(tz)
    )
    account = await session.scalar(
        select(Account).join(Customer).where(Customer.number == "E2EB01")
    )
    assert account is not None
    today = datetime.now(tz).date()
    await assign(
        session, account, CustomerCategory.RESIDENTIAL, "e2e-residential-monthly",
        today.replace(day=1), "e2e",
    )  # fmt: skip
    await session.commit()
    meter_pk = await session.scalar(select(Meter.id).where(Meter.meter_id == "M-BILLS-1"))
    assert meter_pk is not None
    midnight = datetime(today.year, today.month, today.day, tzinfo=tz)
    points = [
        (int((midnight + timedelta(hours=h)).timestamp() * 1000), 50_000 + h * 5_000)
        for h in range(3)
    ]  # 5 kWh an hour from 00:00 to 02:00 today: 10 kWh
    await commit_readings(engine, meter_pk, points)
    await billing.bill_meters(session_factory(engine), {meter_pk: None}, tz)
    await create_user(
        session,
        UserCreate(username="cust-bills", password=password, role=Role.CUSTOMER,
                   customer_number="E2EB01"),
    )  # fmt: skip
