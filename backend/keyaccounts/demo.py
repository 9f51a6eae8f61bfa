"""A key-account portfolio a manager can work through (the demo and the browser tests).

Five customers in one grid, named to one manager, each with a profile and nine weeks of daily
readings that go through the real path (readings → consumption → billing), shaped so that the
manager's list shows each kind of alert: a drop, a jump, arrears, an expiring contract, and
one customer with nothing to report; a visit planned for today; then a segmentation run.
Idempotent: customers that exist are left alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.auth.models import User
from backend.db import session_factory
from backend.field.grids.models import Grid, OrgLevel, OrgUnit
from backend.importer.schemas import CustomerRow, MeterRow
from backend.importer.service import ImportOptions, upsert_customer, upsert_meter
from backend.keyaccounts import service
from backend.keyaccounts.models import (
    CustomerProfile,
    CustomerTag,
    CustomerTagEvent,
    ManagerCard,
    OrgType,
    TagSource,
    Visit,
    VisitStatus,
    VoltageLevel,
)
from backend.keyaccounts.surveys.models import (
    QuestionKind,
    Questionnaire,
    SurveyChannel,
    SurveyQuestion,
    SurveyResponse,
)
from backend.keyaccounts.surveys.service import satisfaction_tenths
from backend.metering.consumption import on_readings_committed
from backend.metering.models import Meter, Reading
from backend.prepaid import ledger
from backend.prepaid.billing import bill_meters
from backend.prepaid.models import Channel, EntryKind
from backend.prepaid.topups import TopUpIn, top_up
from protocols.contract import Quality, Quantity

DAYS = 63  # 56 days of the usual and the last 7
DEMO_NAMESPACE = uuid.UUID("6f1d6b1e-7d0a-4c55-9d1f-4b1f5a0c0017")


@dataclass(frozen=True)
class DemoKeyAccount:
    suffix: str
    name: str
    category: CustomerCategory
    kind: AccountKind
    usual_kwh: int  # a day
    recent_kwh: int  # a day over the last week
    credit_fen: int  # opening top-up (prepaid)
    profile: dict[str, Any]
    arrears_fen: int = 0  # carried over from the previous system (postpaid)


def portfolio(today: date) -> list[DemoKeyAccount]:
    return [
        DemoKeyAccount(
            "01",
            "市第一人民医院",
            CustomerCategory.NON_RESIDENTIAL_LIGHTING,
            AccountKind.PREPAID,
            900,
            920,
            50_000_000,
            {
                "org_type": OrgType.PUBLIC_SERVICE,
                "capacity_kva": 2500,
                "voltage_level": VoltageLevel.KV10,
                "industry_code": "Q8411",
                "technical_contact": "王建国",
                "technical_phone": "0571-87000001",
                "billing_contact": "李敏",
                "billing_phone": "0571-87000002",
                "contract_expires_on": today + timedelta(days=40),
            },
        ),
        DemoKeyAccount(
            "02",
            "华东精密机械厂",
            CustomerCategory.LARGE_INDUSTRY,
            AccountKind.PREPAID,
            2000,
            700,
            80_000_000,
            {
                "org_type": OrgType.INDUSTRIAL,
                "capacity_kva": 4000,
                "new_capacity_kva": 4000,
                "voltage_level": VoltageLevel.KV10,
                "industry_code": "C3411",
                "industrial_park": "西湖科技园",
                "technical_contact": "赵工",
                "technical_phone": "13900000002",
                "billing_contact": "钱会计",
                "billing_phone": "13900000003",
                "contract_expires_on": today + timedelta(days=400),
            },
        ),
        DemoKeyAccount(
            "03",
            "阳光花园小区",
            CustomerCategory.RESIDENTIAL,
            AccountKind.PREPAID,
            400,
            410,
            20_000_000,
            {
                "org_type": OrgType.RESIDENTIAL_COMMUNITY,
                "households": 2400,
                "voltage_level": VoltageLevel.V380,
                "industry_code": "K7020",
                "technical_contact": "物业 孙经理",
                "technical_phone": "13900000004",
            },
        ),
        DemoKeyAccount(
            "04",
            "西湖区农业农村局",
            CustomerCategory.AGRICULTURAL,
            AccountKind.POSTPAID,
            150,
            150,
            0,
            {
                "org_type": OrgType.AGRICULTURE_AUTHORITY,
                "capacity_kva": 315,
                "voltage_level": VoltageLevel.V380,
                "industry_code": "S9221",
                "billing_contact": "周科长",
                "billing_phone": "0571-87000005",
            },
            arrears_fen=86_000,
        ),
        DemoKeyAccount(
            "05",
            "恒丰商贸中心",
            CustomerCategory.COMMERCIAL,
            AccountKind.PREPAID,
            300,
            620,
            20_000_000,
            {
                "org_type": OrgType.COMMERCIAL,
                "capacity_kva": 800,
                "voltage_level": VoltageLevel.KV10,
                "industry_code": "F5211",
                "technical_contact": "吴主管",
                "technical_phone": "13900000006",
            },
        ),
    ]


async def _create(
    sessions: async_sessionmaker[AsyncSession],
    accounts: list[DemoKeyAccount],
    numbers: list[str],
    manager_id: int,
    grid_code: str,
    origin: tuple[float, float],
    phone: str,
    tz: ZoneInfo,
) -> None:
    async with sessions() as session:
        if await session.get(ManagerCard, manager_id) is None:
            session.add(ManagerCard(user_id=manager_id, phone=phone))
        for i, a in enumerate(accounts):
            number = numbers[i]
            lat, lon = origin[0] + i * 0.002, origin[1] + i * 0.002
            row = CustomerRow(
                number=number, name=a.name, category=a.category, phone=phone,
                address=f"杭州市西湖区文一路{i * 20 + 8}号", latitude=lat, longitude=lon,
                grid_code=grid_code, account_number=f"KA{number}", account_kind=a.kind,
            )  # fmt: skip
            await upsert_customer(session, row, ImportOptions(tz))
            meter = MeterRow(
                meter_id=f"M-KA-{number}", customer_number=number, protocol="manual",
                account_number=f"KA{number}", latitude=lat, longitude=lon,
            )  # fmt: skip
            await upsert_meter(session, meter, ImportOptions(tz))
            customer_id = await session.scalar(select(Customer.id).where(Customer.number == number))
            session.add(
                CustomerProfile(
                    customer_id=customer_id, manager_id=manager_id, updated_by="demo", **a.profile
                )
            )
        await session.commit()


async def _history(
    engine: AsyncEngine,
    accounts: list[DemoKeyAccount],
    numbers: list[str],
    today: date,
    tz: ZoneInfo,
) -> None:
    """Nine weeks of midnight readings, through the derived-data path and billing; opening
    credit (prepaid) or arrears carried over (postpaid) in the ledger."""
    sessions = session_factory(engine)
    start = today - timedelta(days=DAYS)
    midnight = datetime(start.year, start.month, start.day, tzinfo=tz)
    async with sessions() as session:
        meters = {
            m.meter_id: m
            for m in await session.scalars(
                select(Meter).where(Meter.meter_id.in_([f"M-KA-{n}" for n in numbers]))
            )
        }
        rows_by_number = {
            a.number: a
            for a in await session.scalars(
                select(Account).where(Account.number.in_([f"KA{n}" for n in numbers]))
            )
        }
    affected: list[tuple[int, str, int, int]] = []
    for number, a in zip(numbers, accounts, strict=True):
        meter, account = meters[f"M-KA-{number}"], rows_by_number[f"KA{number}"]
        value, rows, ts = 1_000_000, [], 0
        for d in range(DAYS + 1):
            ts = int((midnight + timedelta(days=d)).timestamp() * 1000)
            row = dict(meter_pk=meter.id, quantity=Quantity.ENERGY_IMPORT, ts=ts, value=value)
            rows.append({**row, "quality": Quality.GOOD, "source": "ami", "received_at": ts})
            kwh = a.recent_kwh if d >= DAYS - 7 else a.usual_kwh
            value += kwh * 1000 + (d % 3) * 1000  # a little day-to-day wobble
        async with engine.begin() as conn:
            await conn.execute(insert(Reading), rows)
        affected.append((meter.id, Quantity.ENERGY_IMPORT, int(midnight.timestamp() * 1000), ts))
        if a.credit_fen:
            body = TopUpIn(amount_fen=a.credit_fen, channel=Channel.COUNTER)
            await top_up(sessions, account, f"demo-ka-{number}", body, actor="demo", tz=tz)
        if a.arrears_fen:
            async with sessions() as session:
                await ledger.lock_account(session, account.id)
                await ledger.post(
                    session, account.id, EntryKind.ADJUSTMENT, -a.arrears_fen, actor="demo",
                    memo="迁移欠费 arrears carried over at migration",
                )  # fmt: skip
                await session.commit()
    await on_readings_committed(engine, affected, timezone=str(tz))
    await bill_meters(sessions, {pk: None for pk, *_ in affected}, tz)


async def seed_portfolio(
    engine: AsyncEngine,
    *,
    manager: str,
    grid_code: str,
    prefix: str,
    origin: tuple[float, float],
    phone: str,
    tz: ZoneInfo,
    now: datetime,
) -> list[str]:
    """Create the portfolio (customer numbers ``{prefix}01`` …); returns the numbers."""
    sessions = session_factory(engine)
    today = now.astimezone(tz).date()
    accounts = portfolio(today)
    numbers = [f"{prefix}{a.suffix}" for a in accounts]
    async with sessions() as session:
        manager_id = await session.scalar(select(User.id).where(User.username == manager))
        if manager_id is None:
            raise LookupError(f"no user {manager!r}")
        done = await session.scalar(select(Account.id).where(Account.number == f"KA{numbers[0]}"))
    if done is not None:
        return numbers
    await _create(sessions, accounts, numbers, manager_id, grid_code, origin, phone, tz)
    async with sessions() as session:
        await _place(session, grid_code)
    await _history(engine, accounts, numbers, today, tz)
    async with sessions() as session:
        first = await session.scalar(select(Customer.id).where(Customer.number == numbers[0]))
        session.add(
            Visit(
                client_id=str(uuid.uuid5(DEMO_NAMESPACE, f"{prefix}:{manager}")),
                customer_id=first, manager_id=manager_id, planned_for=today,
                purpose="季度走访：合同续签与用电安全检查", status=VisitStatus.PLANNED,
            )
        )  # fmt: skip
        await session.commit()
        await _survey(session, first_by_number=numbers, manager_id=manager_id, prefix=prefix)
        await service.recompute(session, now, tz)
        plant = await session.scalar(select(Customer.id).where(Customer.number == numbers[1]))
        assert plant is not None
        # the manager's own label: a per-plant service plan (一厂一策, R100)
        session.add(
            CustomerTag(
                customer_id=plant, source=TagSource.MANUAL, tag="一厂一策",
                added_by=manager, added_at=now,
            )
        )  # fmt: skip
        session.add(
            CustomerTagEvent(
                customer_id=plant, source=TagSource.MANUAL, tag="一厂一策", added=True,
                actor=manager, at=now,
            )
        )  # fmt: skip
        await session.commit()
    return numbers


async def _survey(
    session: AsyncSession, *, first_by_number: list[str], manager_id: int, prefix: str
) -> None:
    """This year's questionnaire, and the community's answers taken by phone."""
    q1 = SurveyQuestion(
        text_zh="您对供电可靠性满意吗？",
        text_en="Are you satisfied with the reliability of supply?",
        kind=QuestionKind.SCORE,
        created_by="demo",
    )
    q2 = SurveyQuestion(
        text_zh="您对客户经理的服务满意吗？",
        text_en="Are you satisfied with your customer manager?",
        kind=QuestionKind.SCORE,
        created_by="demo",
    )
    q3 = SurveyQuestion(
        text_zh="您的意见和建议",
        text_en="Your opinions and suggestions",
        kind=QuestionKind.TEXT,
        created_by="demo",
    )
    session.add_all([q1, q2, q3])
    await session.flush()
    qn = Questionnaire(
        title="2026 年度大客户满意度调查",
        question_ids=[q1.id, q2.id, q3.id],
        abc_classes=[],
        created_by="demo",
    )
    session.add(qn)
    await session.flush()
    community = await session.scalar(
        select(Customer.id).where(Customer.number == first_by_number[2])
    )
    assert community is not None
    session.add(
        SurveyResponse(
            client_id=str(uuid.uuid5(DEMO_NAMESPACE, f"{prefix}:survey")),
            questionnaire_id=qn.id,
            customer_id=community,
            channel=SurveyChannel.PHONE,
            recorded_by=manager_id,
            answers={str(q1.id): 5, str(q2.id): 4, str(q3.id): "希望停电提前通知"},
            satisfaction=satisfaction_tenths([5, 4]),
        )
    )
    await session.commit()


# the demo's organisation (R110): 浙江省 → 杭州市 → 西湖区, the portfolio's grid in the district
DEMO_UNITS = (
    ("ZJ", OrgLevel.PROVINCE, "国网浙江省电力公司", None),
    ("ZJ-HZ", OrgLevel.CITY, "杭州供电公司", "ZJ"),
    ("ZJ-HZ-XH", OrgLevel.DISTRICT, "西湖区供电分公司", "ZJ-HZ"),
)


async def _place(session: AsyncSession, grid_code: str) -> None:
    """The units (made once, found by code) and the grid placed in the district unless placed."""
    ids: dict[str, int] = {}
    for code, level, name, parent in DEMO_UNITS:
        unit = await session.scalar(select(OrgUnit).where(OrgUnit.code == code))
        if unit is None:
            unit = OrgUnit(code=code, level=level, name=name, parent_id=ids.get(parent or ""))
            session.add(unit)
            await session.flush()
        ids[code] = unit.id
    grid = await session.scalar(select(Grid).where(Grid.code == grid_code))
    if grid is not None and grid.org_unit_id is None:
        grid.org_unit_id = ids["ZJ-HZ-XH"]
    await session.commit()
