"""The customer of the lifecycle journey (tests/e2e/test_lifecycle.py): a household with an
unbilled prepaid account, and a general-industry tariff so a change of category to it has a
schedule to bill on. No other journey's customer is of that category, so nothing else is
billed by it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, AccountKind, CustomerCategory
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.service import create_user
from backend.importer.schemas import CustomerRow, MeterRow
from backend.importer.service import ImportOptions, upsert_customer, upsert_meter
from backend.tariffs.loader import parse_tariffs
from backend.tariffs.models import AccountTariffTerms
from backend.tariffs.service import store_tariffs

TARIFF = """
[[tariff]]
code = "E2E-GI"
name = "一般工商业 (e2e)"
category = "general_industry"
effective_from = 2020-01-01
[tariff.prices]
flat = 0.6473
"""


async def change_customer(session: AsyncSession, password: str) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    await store_tariffs(session, parse_tariffs(TARIFF))
    await upsert_customer(
        session,
        CustomerRow(
            number="E2EL01", name="何静", category=CustomerCategory.RESIDENTIAL,
            address="文二路 5 号", grid_code="GE2L1", grid_name="网格 lifecycle",
            account_number="ACCL01", account_kind=AccountKind.PREPAID,
        ),
        ImportOptions(tz),
    )  # fmt: skip
    await upsert_meter(
        session, MeterRow(meter_id="M-LIFE-1", customer_number="E2EL01"), ImportOptions(tz)
    )
    await session.commit()
    await create_user(
        session,
        UserCreate(username="cust-change", password=password, role=Role.CUSTOMER,
                   customer_number="E2EL01"),
    )  # fmt: skip


async def contract_customer(session: AsyncSession, password: str) -> None:
    """The customer of the moving and suspension journey: a shop with a 200 kVA contract on an
    unbilled postpaid account, its own grid, no readings."""
    tz = ZoneInfo("Asia/Shanghai")
    await upsert_customer(
        session,
        CustomerRow(
            number="E2EL02", name="宋磊", category=CustomerCategory.COMMERCIAL,
            address="文三路 20 号", grid_code="GE2L2", grid_name="网格 lifecycle 2",
            account_number="ACCL02", account_kind=AccountKind.POSTPAID,
        ),
        ImportOptions(tz),
    )  # fmt: skip
    account = await session.scalar(select(Account).where(Account.number == "ACCL02"))
    assert account is not None
    session.add(AccountTariffTerms(account_id=account.id, capacity_kva=200, updated_by="e2e"))
    await session.commit()
    await create_user(
        session,
        UserCreate(username="cust-move", password=password, role=Role.CUSTOMER,
                   customer_number="E2EL02"),
    )  # fmt: skip
