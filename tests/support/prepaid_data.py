"""Customers, accounts, meters, readings and tariffs for the prepaid tests."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.metering.models import Agent, Meter, Reading
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.service import store_tariffs

TZ = ZoneInfo("Asia/Shanghai")
_n = itertools.count(1)


def local_ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=TZ).timestamp() * 1000)


async def load_default_tariffs(session: AsyncSession) -> None:
    await store_tariffs(session, load_file(DEFAULT_FILE))


async def make_account(
    session: AsyncSession,
    *,
    category: CustomerCategory = CustomerCategory.RESIDENTIAL,
    protected: bool = False,
    key_account_class: int | None = None,
    credit_limit_fen: int = 0,
    cycle_start: date | None = date(2026, 1, 1),
    control_mode: int = 2,
    relay_state: int | None = 1,
    agent: str = "agent-1",
    phone: str = "13800000000",
) -> tuple[Customer, Account, Meter]:
    n = next(_n)
    if await session.get(Agent, agent) is None:
        session.add(Agent(id=agent))
    customer = Customer(
        number=f"C{n:06d}",
        name=f"客户{n}",
        phone=phone,
        category=category,
        protected=protected,
        key_account_class=key_account_class,
    )
    session.add(customer)
    await session.flush()
    account = Account(
        number=f"A{n:06d}",
        customer_id=customer.id,
        kind=AccountKind.PREPAID,
        balance_fen=0,
        credit_limit_fen=credit_limit_fen,
        cycle_start=cycle_start,
    )
    session.add(account)
    await session.flush()
    meter = Meter(
        meter_id=f"m{n}",
        agent_id=agent,
        customer_id=customer.id,
        account_id=account.id,
        relay_control_mode=control_mode,
        relay_state=relay_state,
        protocol="dlt645",
    )
    session.add(meter)
    await session.flush()
    return customer, account, meter


async def add_readings(
    session: AsyncSession,
    meter_pk: int,
    points: list[tuple[int, int]],
    quantity: str = "energy_import",
) -> None:
    await session.execute(
        insert(Reading),
        [
            {"meter_pk": meter_pk, "quantity": quantity, "ts": ts, "value": v, "received_at": ts}
            for ts, v in points
        ],
    )
