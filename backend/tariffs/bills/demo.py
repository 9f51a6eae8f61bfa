"""Demo data for issued bills: every postpaid account's bills of the last three months are
issued, and one household (演示欠费户, 户号 DEMO-ARREARS) that used 100 kWh three months ago and
80 kWh two months ago and never paid is overdue, with late fees posted to today and its
overdue reminder queued (docs/tariffs.md, "In the demo")."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Account, AccountKind, CustomerCategory
from backend.db import session_factory
from backend.importer.schemas import CustomerRow, MeterRow
from backend.importer.service import ImportOptions, upsert_customer, upsert_meter
from backend.metering.consumption import on_readings_committed
from backend.metering.models import Meter, Reading
from backend.prepaid import billing
from backend.prepaid.engine import channels
from backend.settings import Settings
from backend.tariffs.bills import service as bills
from protocols.contract import Quality, Quantity

CUSTOMER = "DEMO-ARREARS"
METER = "M-DEMO-ARREARS"


def _months_back(now: datetime, n: int) -> datetime:
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(n):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


async def seed_bills(
    engine: AsyncEngine, settings: Settings, grid_code: str, now: datetime
) -> None:
    tz = ZoneInfo(settings.timezone)
    local = now.astimezone(tz)
    sessions = session_factory(engine)
    async with sessions() as s:
        if await s.scalar(select(Meter.id).where(Meter.meter_id == METER)) is not None:
            return  # seeded before
        await upsert_customer(
            s,
            CustomerRow(
                number=CUSTOMER, name="演示欠费户", category=CustomerCategory.RESIDENTIAL,
                address="文三路 88 号", grid_code=grid_code, account_number="A" + CUSTOMER,
                account_kind=AccountKind.POSTPAID, phone="13800000088",
            ),
            ImportOptions(tz),
        )  # fmt: skip
        await upsert_meter(s, MeterRow(meter_id=METER, customer_number=CUSTOMER), ImportOptions(tz))
        await s.commit()
        meter_pk = await s.scalar(select(Meter.id).where(Meter.meter_id == METER))
        assert meter_pk is not None
    points = []
    for back, kwh in ((3, 100), (2, 80)):
        start = _months_back(local, back).replace(day=3, hour=10)
        points.append((int(start.timestamp() * 1000), 0))
        points.append((int((start + timedelta(hours=4)).timestamp() * 1000), kwh))
    value, rows = 0, []
    for i, (ts, kwh) in enumerate(points):
        value = value + kwh * 1000 if i % 2 else value
        row = dict(meter_pk=meter_pk, quantity=Quantity.ENERGY_IMPORT, ts=ts, value=value)
        rows.append({**row, "quality": Quality.GOOD, "source": "ami", "received_at": ts})
    async with engine.begin() as conn:
        await conn.execute(insert(Reading), rows)
    span = [(meter_pk, Quantity.ENERGY_IMPORT.value, points[0][0], points[-1][0])]
    await on_readings_committed(sessions, span)
    await billing.on_readings_committed(sessions, span, tz)
    for back in (3, 2, 1):
        month = _months_back(local, back).strftime("%Y-%m")
        await bills.issue_all(sessions, month, tz, due_day=settings.postpaid_due_day, now=now)
    async with sessions() as s, s.begin():
        account = await s.scalar(select(Account).where(Account.number == "A" + CUSTOMER))
        assert account is not None
        await bills.post_late_fees(s, account, True, local.date(), tz)
        await bills.remind(
            s, account, local.date(), overdue_days=settings.postpaid_overdue_reminder_days,
            channels=channels(settings), now=now,
        )  # fmt: skip
