"""Demo data: a small district of customers whose meters are simulated, seeded idempotently.

Everything is created through the same tables and services production uses, keyed by natural
numbers (customer 户号, meter id), so running the demo again reuses what is there.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.areas.demo import seed_network
from backend.auth.models import Role, User
from backend.auth.schemas import UserCreate
from backend.auth.service import create_user
from backend.db import create_engine, session_factory
from backend.expansion.changes.demo import seed_changes, seed_contract_changes
from backend.expansion.demo import seed_applications
from backend.field.grids.models import Grid, OrgLevel, OrgUnit, TransformerArea
from backend.keyaccounts.demo import seed_portfolio
from backend.metering.models import Agent, Meter, MeterStatus
from backend.prepaid import billing
from backend.prepaid.models import Channel
from backend.prepaid.topups import TopUpIn, top_up
from backend.seed.store import seed_history  # a year of history: charts, tier, trend
from backend.servicedesk.kb.demo import seed_articles
from backend.servicedesk.orders.demo import seed_orders
from backend.servicedesk.workflow.service import working_time
from backend.settings import Settings
from backend.tariffs import service as tariffs
from backend.tariffs.bills.demo import seed_bills
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.service import store_tariffs
from backend.types import utcnow

KEY_ACCOUNT_TARIFFS = DEFAULT_FILE.parent / "examples" / "large_industry_two_part_2026.toml"
KEY_ACCOUNT_SCHEDULE = "large-industry-two-part"

T = TypeVar("T")

# West Lake district, Hangzhou: real-looking coordinates for the inspector's map
BASE_LAT, BASE_LON = 30.2590, 120.1300
GRID_CODE = "XH-01"
OPENING_CREDIT_FEN = 500  # ¥5: lasts about half an hour of real time at the default speed
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


@dataclass(frozen=True)
class DemoMeter:
    meter_id: str
    address: str
    protocol: str  # dlt645 / modbus / manual
    customer_number: str
    name: str
    latitude: float
    longitude: float
    category: CustomerCategory


@dataclass
class DemoFleet:
    agent_id: str
    speed: float
    # where the simulators listen; 0 until they do (``meterline demo`` lets them choose)
    dlt645_port: int = 0
    modbus_port: int = 0
    dlt698_port: int = 0
    control_port: int = 0  # the simulators' control port (power-cut drills)
    dlt645: list[DemoMeter] = field(default_factory=list)
    modbus: list[DemoMeter] = field(default_factory=list)
    dlt698: list[DemoMeter] = field(default_factory=list)
    manual: list[DemoMeter] = field(default_factory=list)  # read by inspectors, no AMI
    # on the DL/T 645 bus and in the agent's configuration, registered to nobody: the meter the
    # demo's example application for supply energises (docs/expansion.md)
    spare: list[DemoMeter] = field(default_factory=list)

    @classmethod
    def plan(
        cls,
        *,
        meters: int,
        speed: float,
        dlt645_port: int = 0,
        modbus_port: int = 0,
        dlt698_port: int | None = None,
    ) -> DemoFleet:
        """The demo's meters; a DL/T 698.45 bus unless ``dlt698_port`` is None."""
        fleet = cls("demo-agent", speed, dlt645_port, modbus_port, dlt698_port or 0)
        n_modbus = max(1, meters // 3)
        rest = meters - n_modbus  # a quarter of it DL/T 698.45, keeping two DL/T 645 customers
        n_698 = max(1, rest // 4) if dlt698_port is not None and rest >= 3 else 0
        n_dlt = max(1, meters - n_modbus - n_698)
        for i in range(n_698):  # addressed after the DL/T 645 meters, as the simulators count
            address = f"{111111111111 + n_dlt + i:012d}"
            fleet.dlt698.append(
                _meter(50 + i, f"m-{address}", address, "dlt698", CustomerCategory.RESIDENTIAL)
            )
        for i in range(n_dlt):
            address = f"{111111111111 + i:012d}"
            fleet.dlt645.append(
                _meter(i, f"m-{address}", address, "dlt645", CustomerCategory.RESIDENTIAL)
            )
        spare = f"{111111111111 + n_dlt:012d}"  # the next address the DL/T 645 simulator serves
        fleet.spare.append(_meter(90, f"yk-{spare}", spare, "dlt645", CustomerCategory.RESIDENTIAL))
        for i in range(n_modbus):
            # the last Modbus meter, when there are several, is a key account's (大工业 两部制)
            key = n_modbus > 1 and i == n_modbus - 1
            cat = CustomerCategory.LARGE_INDUSTRY if key else CustomerCategory.COMMERCIAL
            fleet.modbus.append(_meter(100 + i, f"mb-{i + 1:03d}", str(i + 1), "modbus", cat))
        for i in range(24):
            fleet.manual.append(
                _meter(200 + i, f"man-{i + 1:04d}", "", "manual", CustomerCategory.RESIDENTIAL)
            )
        return fleet

    def all(self) -> Iterator[DemoMeter]:
        yield from self.dlt645
        yield from self.dlt698
        yield from self.modbus
        yield from self.manual

    @property
    def key_accounts(self) -> list[DemoMeter]:
        return [m for m in self.modbus if m.category is CustomerCategory.LARGE_INDUSTRY]

    def users(self) -> list[tuple[str, Role, str, str | None, list[str]]]:
        """(username, role, display name, customer number, grid codes) of the demo's people."""
        return [
            ("operator", Role.OPERATOR, "95598 值班员 张敏", None, []),
            ("operator2", Role.OPERATOR, "95598 复核员 李强", None, []),
            ("supervisor", Role.SUPERVISOR, "抄表班长 王伟", None, []),
            ("inspector", Role.INSPECTOR, "客户经理 陈杰", None, [GRID_CODE]),
            ("customer", Role.CUSTOMER, self.dlt645[0].name, self.dlt645[0].customer_number, []),
            ("customer2", Role.CUSTOMER, self.dlt645[1].name, self.dlt645[1].customer_number, []),
        ] + [
            ("keyaccount", Role.CUSTOMER, m.name, m.customer_number, [])
            for m in self.key_accounts[:1]
        ]


def _meter(i: int, meter_id: str, address: str, protocol: str, cat: CustomerCategory) -> DemoMeter:
    # a walkable grid of streets: ~70 m between buildings
    row, col = divmod(i, 6)
    name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)]
    if cat is CustomerCategory.COMMERCIAL:
        name += "商店"
    elif cat is CustomerCategory.LARGE_INDUSTRY:
        name += "机械厂"
    return DemoMeter(
        meter_id=meter_id,
        address=address,
        protocol=protocol,
        customer_number=f"33010{i:05d}",
        name=name,
        latitude=round(BASE_LAT + row * 0.00063, 6),
        longitude=round(BASE_LON + col * 0.00073, 6),
        category=cat,
    )


async def _get_or_create(
    session: AsyncSession, model: type[T], key: dict[str, object], **values: object
) -> T:
    row = (await session.execute(select(model).filter_by(**key))).scalar_one_or_none()
    if row is None:
        row = model(**key, **values)
        session.add(row)
        await session.flush()
    return row


async def _org_units(session: AsyncSession) -> OrgUnit:
    """The demo's organisation (R110): 浙江省 → 杭州市 → 西湖区, which holds the demo grid."""
    parent: OrgUnit | None = None
    for level, code, name in (
        (OrgLevel.PROVINCE, "ZJ", "浙江省"),
        (OrgLevel.CITY, "ZJ-HZ", "杭州市"),
        (OrgLevel.DISTRICT, "ZJ-HZ-XH", "西湖区"),
    ):
        parent = await _get_or_create(
            session, OrgUnit, {"code": code}, level=level, name=name,
            parent_id=parent.id if parent else None,
        )  # fmt: skip
    assert parent is not None
    return parent


async def seed(settings: Settings, fleet: DemoFleet) -> list[str]:
    """Create the demo district; return one line per demo user (name, password, role)."""
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            await store_tariffs(session, load_file(DEFAULT_FILE))  # prepaid billing needs them
            await store_tariffs(session, load_file(KEY_ACCOUNT_TARIFFS))
            district = await _org_units(session)
            grid = await _get_or_create(session, Grid, {"code": GRID_CODE}, name="西湖网格一")
            grid.org_unit_id = district.id
            area = await _get_or_create(
                session, TransformerArea, {"code": "TA-0101"}, name="文三路1号台区", grid_id=grid.id
            )
            await _get_or_create(session, Agent, {"id": fleet.agent_id}, name="演示集中器")
            for m in fleet.all():
                customer = await _get_or_create(
                    session,
                    Customer,
                    {"number": m.customer_number},
                    name=m.name,
                    category=m.category,
                    phone="13800000000",
                    address=f"杭州市西湖区文三路{int(m.customer_number[-3:]) + 1}号",
                    latitude=m.latitude,
                    longitude=m.longitude,
                    grid_id=grid.id,
                    transformer_area_id=area.id,
                    key_account_class=2 if m in fleet.key_accounts else None,
                )
                account = await _get_or_create(
                    session,
                    Account,
                    {"number": f"A{m.customer_number}"},
                    customer_id=customer.id,
                    kind=AccountKind.PREPAID if m.protocol != "manual" else AccountKind.POSTPAID,
                )
                await _get_or_create(
                    session,
                    Meter,
                    {"meter_id": m.meter_id},
                    serial=m.meter_id.upper(),
                    protocol=m.protocol,
                    address=m.address,
                    agent_id=fleet.agent_id if m.protocol != "manual" else None,
                    customer_id=customer.id,
                    account_id=account.id,
                    status=MeterStatus.ACTIVE,
                    latitude=m.latitude,
                    longitude=m.longitude,
                    relay_control_mode=2,
                    # a shop's three-phase meter passes far more than a flat's (quarantine)
                    **(
                        {"phases": 3, "rated_current_a": 100}
                        if m.category
                        in (CustomerCategory.COMMERCIAL, CustomerCategory.LARGE_INDUSTRY)
                        else {}
                    ),
                )
        await seed_history(
            engine, [m.customer_number for m in fleet.all()], timezone=settings.timezone
        )
        # the network behind the area, its total meter and a year of it with injected loss
        await seed_network(
            engine, "TA-0101", [m.customer_number for m in fleet.manual],
            ZoneInfo(settings.timezone), await _grid_id(engine),
        )  # fmt: skip
        factory = session_factory(engine)
        await _key_account_tariff(factory, fleet, settings)
        await _opening_credit(factory, settings)
        await seed_bills(engine, settings, GRID_CODE, utcnow())  # issued bills, one overdue
        lines = await _seed_users(factory, fleet, settings.data_path)
        # 95598 work orders: open, overdue and closed ones, and the indicators they make
        await seed_orders(
            factory,
            working_time(settings.prepaid_holiday_calendar, settings.timezone),
            [m.customer_number for m in fleet.dlt645 + fleet.modbus],
        )
        await seed_articles(factory, "supervisor")  # the operators' knowledge base
        # applications for supply in several steps; one waits to energise the spare meter
        await seed_applications(
            factory, working_time(settings.prepaid_holiday_calendar, settings.timezone),
            settings.timezone, [m.meter_id for m in fleet.spare], "TA-0101", settings.data_path,
        )  # fmt: skip
        # account changes after energisation, waiting, applied and rejected (docs/lifecycle.md)
        await seed_changes(
            factory, working_time(settings.prepaid_holiday_calendar, settings.timezone),
            ZoneInfo(settings.timezone), customer=fleet.dlt645[0].customer_number,
            customer2=fleet.dlt645[1].customer_number, applied=fleet.manual[-2].customer_number,
            rejected=fleet.manual[-3].customer_number, bill=settings.prepaid_billing,
        )  # fmt: skip
        await seed_contract_changes(
            factory, working_time(settings.prepaid_holiday_calendar, settings.timezone),
            ZoneInfo(settings.timezone), schedule=KEY_ACCOUNT_SCHEDULE,
            bill=settings.prepaid_billing,
        )  # fmt: skip
        # key accounts named to the demo's customer manager (docs/key-accounts.md)
        await seed_portfolio(
            engine, manager="inspector", grid_code=GRID_CODE, prefix="KAXH",
            origin=(BASE_LAT + 0.01, BASE_LON + 0.01), phone="0571-87009999",
            tz=ZoneInfo(settings.timezone), now=datetime.now(UTC),
        )  # fmt: skip
        return lines
    finally:
        await engine.dispose()


async def _key_account_tariff(
    factory: async_sessionmaker[AsyncSession], fleet: DemoFleet, settings: Settings
) -> None:
    """The key account is billed on the two-part tariff (630 kVA) from the first of this
    month, so its monthly bill shows the capacity charge and the power-factor adjustment;
    what its history billed this month is re-rated."""
    tz = ZoneInfo(settings.timezone)
    first = datetime.now(tz).date().replace(day=1)
    for m in fleet.key_accounts:
        async with factory() as session:
            account = await session.scalar(
                select(Account).where(Account.number == f"A{m.customer_number}")
            )
            assert account is not None
            _, created = await tariffs.assign(
                session, account, m.category, KEY_ACCOUNT_SCHEDULE, first, "demo"
            )
            await tariffs.set_terms(
                session, account, cycle_start=account.cycle_start, household_extra_kwh_month=0,
                prorate_from=None, capacity_kva=630, actor="demo",
            )  # fmt: skip
            meters = await tariffs.meters_of(session, account.id)
            await session.commit()
        if created:
            since = int(datetime(first.year, first.month, 1, tzinfo=tz).timestamp() * 1000)
            await billing.bill_meters(factory, dict.fromkeys(meters, since), tz)


async def _grid_id(engine: AsyncEngine) -> int | None:
    async with session_factory(engine)() as session:
        return await session.scalar(select(Grid.id).where(Grid.code == GRID_CODE))


async def _opening_credit(factory: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """A small opening top-up at the counter for every prepaid account, so the demo shows the
    balance falling, then the warning and the disconnect (idempotent: one key per account)."""
    async with factory() as session:
        accounts = (
            await session.scalars(select(Account).where(Account.kind == AccountKind.PREPAID))
        ).all()
    for account in accounts:
        await top_up(
            factory,
            account,
            f"demo-opening-{account.number}",
            TopUpIn(amount_fen=OPENING_CREDIT_FEN, channel=Channel.COUNTER),
            actor="demo",
            tz=ZoneInfo(settings.timezone),
        )


async def _seed_users(
    factory: async_sessionmaker[AsyncSession], fleet: DemoFleet, data_dir: Path
) -> list[str]:
    """Demo users with passwords generated on first run and kept in the data directory (0600):
    nothing secret is in the repository, and every run prints how to log in."""
    path = data_dir / "demo-accounts.txt"
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, pw = line.partition(" ")
            known[name] = pw
    lines = []
    for username, role, display, customer, grids in fleet.users():
        password = known.get(username) or secrets.token_urlsafe(9)  # 12 characters
        async with factory() as session:
            exists = await session.scalar(select(User.id).where(User.username == username))
            if exists is None:
                await create_user(
                    session,
                    UserCreate(
                        username=username,
                        password=password,
                        role=role,
                        display_name=display,
                        customer_number=customer,
                        grid_codes=grids,
                    ),
                )
        known[username] = password
        lines.append(f"{username:<11} {password:<12} {role.value}: {display}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(f"{u} {p}\n" for u, p in known.items()))
    return lines
