"""The people and things the end-to-end journeys need, made through the services (the importer's
upserts and ``create_user``), never raw SQL.

Each journey gets its own inspector and grid, so the journeys share one server and still do not
see each other's readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.accounts.models import Account, AccountKind, CustomerCategory
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.service import create_user
from backend.db import create_engine, session_factory
from backend.importer.schemas import CustomerRow, MeterRow
from backend.importer.service import upsert_customer, upsert_meter
from backend.keyaccounts.demo import seed_portfolio
from backend.metering.models import Meter
from backend.prepaid import ledger
from backend.prepaid.models import EntryKind
from tests.e2e.seed_bills import bills_customer
from tests.e2e.seed_changes import change_customer, contract_customer
from tests.e2e.seed_issued import issued_customer, revised_customer
from tests.support.readings import commit_readings

PASSWORD = "e2e-password-1"
TZ = ZoneInfo("Asia/Shanghai")
BASE = (30.2741, 120.1551)  # Hangzhou; stops ~40 m apart going north-east
STEP = 0.0003


@dataclass
class Stop:
    customer: str  # 户号
    name: str
    meter_id: str
    lat: float
    lon: float


@dataclass
class Round:
    """One inspector, their grid, and the stops of their reading book."""

    inspector: str
    grid: str
    stops: list[Stop] = field(default_factory=list)


@dataclass
class Debtor:
    account: str  # account number
    name: str
    owed_fen: int


@dataclass
class Seeded:
    rounds: dict[str, Round]
    users: dict[str, str]  # username → role
    debtors: list[Debtor] = field(default_factory=list)
    topup_account: str = ""
    key_accounts: list[str] = field(default_factory=list)  # customer numbers (keyaccounts)


NAMES = ["王建国", "李秀英", "张伟", "刘洋", "陈静"]


async def _debtors(session: AsyncSession) -> list[Debtor]:
    """Prepaid customers in arrears with the supply on, behind a concentrator: the disconnect
    queue's material. The debt is posted to the ledger as an adjustment, as a back office would."""
    out = []
    for n, (name, owed) in enumerate([("赵敏", 5_000), ("孙浩", 12_345)]):
        number, account = f"E2E9{n:02d}", f"ACC9{n:02d}"
        await upsert_customer(
            session,
            CustomerRow(
                number=number, name=name, category=CustomerCategory.RESIDENTIAL,
                address=f"学院路 {n + 1} 号", grid_code="GE2E9", grid_name="网格 arrears",
                account_number=account, account_kind=AccountKind.PREPAID,
            ),
            TZ,
        )  # fmt: skip
        await upsert_meter(
            session,
            MeterRow(meter_id=f"M-DEBT-{n + 1}", customer_number=number, agent_id="agent-e2e"),
            TZ,
        )
        account_id = await session.scalar(select(Account.id).where(Account.number == account))
        assert account_id is not None
        await ledger.lock_account(session, account_id)
        await ledger.post(
            session, account_id, EntryKind.ADJUSTMENT, -owed, actor="e2e", memo="arrears"
        )
        await session.commit()
        out.append(Debtor(account, name, owed))
    return out


async def _usage_customer(session: AsyncSession, engine: AsyncEngine) -> None:
    """A prepaid customer whose meter reported once a day for the last 30 days, written the
    way ingestion writes readings (with the consumption hook after the commit)."""
    await upsert_customer(
        session,
        CustomerRow(
            number="E2E800", name="周婷", category=CustomerCategory.RESIDENTIAL,
            address="天目山路 8 号", grid_code="GE2E8", grid_name="网格 usage",
            account_number="ACC800", account_kind=AccountKind.PREPAID,
        ),
        TZ,
    )  # fmt: skip
    await upsert_meter(session, MeterRow(meter_id="M-USAGE-1", customer_number="E2E800"), TZ)
    await session.commit()
    meter_pk = await session.scalar(select(Meter.id).where(Meter.meter_id == "M-USAGE-1"))
    assert meter_pk is not None
    noon = datetime.now(TZ).replace(hour=12, minute=0, second=0, microsecond=0)
    points, value = [], 1_000_000
    for back in range(30, -1, -1):
        ts = int((noon - timedelta(days=back)).timestamp() * 1000)
        value += 4_000 + (back % 7) * 1_500  # 4–13 kWh a day, a weekly rhythm
        points.append((ts, value))
    await commit_readings(engine, meter_pk, points)
    await create_user(
        session,
        UserCreate(username="cust-usage", password=PASSWORD, role=Role.CUSTOMER,
                   customer_number="E2E800"),
    )  # fmt: skip


async def _round(session: AsyncSession, key: str, index: int, size: int) -> Round:
    grid = f"GE2E{index}"
    r = Round(inspector=f"insp-{key}", grid=grid)
    for n in range(size):
        lat = BASE[0] + index * 0.01 + n * STEP
        lon = BASE[1] + index * 0.01 + n * STEP
        number = f"E2E{index}{n:02d}"
        await upsert_customer(
            session,
            CustomerRow(
                number=number,
                name=NAMES[n % len(NAMES)],
                category=CustomerCategory.RESIDENTIAL,
                address=f"文三路 {index * 100 + n + 1} 号",
                latitude=lat,
                longitude=lon,
                grid_code=grid,
                grid_name=f"网格 {key}",
                account_number=f"ACC{index}{n:02d}",
                account_kind=AccountKind.PREPAID,
            ),
            TZ,
        )
        meter_id = f"M-{key.upper()}-{n + 1}"
        await upsert_meter(
            session,
            MeterRow(meter_id=meter_id, customer_number=number, latitude=lat, longitude=lon),
            TZ,
        )
        r.stops.append(Stop(number, NAMES[n % len(NAMES)], meter_id, lat, lon))
    await session.commit()
    await create_user(
        session,
        UserCreate(
            username=r.inspector,
            password=PASSWORD,
            role=Role.INSPECTOR,
            display_name=f"抄表员 {key}",
            grid_codes=[grid],
        ),
    )
    return r


async def _key_accounts(session: AsyncSession, engine: AsyncEngine) -> list[str]:
    """The demo's key-account portfolio (backend/keyaccounts/demo.py), named to ``insp-ka``,
    and a user for its first customer. No tariff is stored here (other journeys count on
    unbilled readings), so every revenue is zero and every ABC class C."""
    await create_user(
        session,
        UserCreate(username="insp-ka", password=PASSWORD, role=Role.INSPECTOR,
                   display_name="客户经理 陈杰"),
    )  # fmt: skip
    numbers = await seed_portfolio(
        engine, manager="insp-ka", grid_code="GE2EKA", prefix="KAE", origin=(30.30, 120.20),
        phone="0571-87009999", tz=TZ, now=datetime.now(TZ),
    )  # fmt: skip
    await create_user(
        session,
        UserCreate(username="cust-ka", password=PASSWORD, role=Role.CUSTOMER,
                   customer_number=numbers[0]),
    )  # fmt: skip
    return numbers


async def seed(database_url: str) -> Seeded:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rounds = {}
            for i, (key, size) in enumerate(
                [("round", 3), ("offline", 3), ("retry", 2), ("track", 2), ("held", 1)], 1
            ):
                rounds[key] = await _round(session, key, i, size)
            users = {r.inspector: "inspector" for r in rounds.values()}
            for name, role in [
                ("op-a", Role.OPERATOR),
                ("op-b", Role.OPERATOR),
                ("sup", Role.SUPERVISOR),
                ("sup-2fa", Role.SUPERVISOR),  # enrols two-step login (test_two_step_login)
            ]:
                await create_user(session, UserCreate(username=name, password=PASSWORD, role=role))
                users[name] = role.value
            await create_user(
                session,
                UserCreate(
                    username="cust-topup",
                    password=PASSWORD,
                    role=Role.CUSTOMER,
                    customer_number=rounds["round"].stops[0].customer,
                ),
            )
            users["cust-topup"] = "customer"
            debtors = await _debtors(session)
            await _usage_customer(session, engine)
            users["cust-usage"] = "customer"
            await bills_customer(session, engine, PASSWORD)
            users["cust-bills"] = "customer"
            await change_customer(session, PASSWORD)
            users["cust-change"] = "customer"
            await contract_customer(session, PASSWORD)
            users["cust-move"] = "customer"
            await issued_customer(session, engine, PASSWORD)
            users["cust-issued"] = "customer"
            await revised_customer(session, engine, PASSWORD)
            users["cust-revised"] = "customer"
            key_accounts = await _key_accounts(session, engine)
            users.update({"insp-ka": "inspector", "cust-ka": "customer"})
        return Seeded(
            rounds=rounds, users=users, debtors=debtors, topup_account="ACC100",
            key_accounts=key_accounts,
        )  # fmt: skip
    finally:
        await engine.dispose()
