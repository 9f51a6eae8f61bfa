"""The demo district has a C&I key account (大工业 两部制, 630 kVA) whose monthly bill shows
the energy by period, the capacity charge and the power-factor adjustment, summing to its
total."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from backend.accounts.models import Account, Customer, CustomerCategory
from backend.db import create_engine, session_factory
from backend.demo import DEFAULT_METERS, DEFAULT_SPEED, prepare
from backend.settings import load_settings
from backend.tariffs.bill import BillText
from backend.tariffs.service import monthly_bill


async def test_the_demo_has_a_key_account_with_a_two_part_monthly_bill(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path / "var"), log_level="WARNING")
    fleet, users = await prepare(settings, meters=DEFAULT_METERS, speed=DEFAULT_SPEED)
    [key] = fleet.key_accounts
    assert any(line.startswith("keyaccount") for line in users)
    tz = ZoneInfo(settings.timezone)
    month = datetime.now(tz).strftime("%Y-%m")
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            account = await s.scalar(
                select(Account).where(Account.number == f"A{key.customer_number}")
            )
            assert account is not None
            customer = await s.get(Customer, account.customer_id)
            assert customer is not None
            assert (customer.category, customer.key_account_class) == (
                CustomerCategory.LARGE_INDUSTRY, 2,
            )  # fmt: skip
            bill = await monthly_bill(s, account, customer.category, month, tz)
    finally:
        await engine.dispose()
    codes = [line.code for line in bill.lines]
    assert BillText.CAPACITY in codes
    assert BillText.POWER_FACTOR in codes
    capacity = next(line for line in bill.lines if line.code is BillText.CAPACITY)
    assert capacity.params == {"kva": 630, "price": "23.3"}
    assert capacity.amount_fen == 1_467_900  # 630 kVA x 23.3 = 14,679 元
    assert sum(line.amount_fen for line in bill.lines) == bill.total_fen
