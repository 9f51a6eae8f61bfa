"""The people and things the end-to-end journeys need, made through the services (the importer's
upserts and ``create_user``), never raw SQL.

Each journey gets its own inspector and grid, so the journeys share one server and still do not
see each other's readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import AccountKind, CustomerCategory
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.service import create_user
from backend.db import create_engine, session_factory
from backend.importer.schemas import CustomerRow, MeterRow
from backend.importer.service import upsert_customer, upsert_meter

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
class Seeded:
    rounds: dict[str, Round]
    users: dict[str, str]  # username → role


NAMES = ["王建国", "李秀英", "张伟", "刘洋", "陈静"]


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


async def seed(database_url: str) -> Seeded:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rounds = {}
            for i, (key, size) in enumerate(
                [("round", 3), ("offline", 3), ("retry", 2), ("track", 2)], 1
            ):
                rounds[key] = await _round(session, key, i, size)
            users = {r.inspector: "inspector" for r in rounds.values()}
            for name, role in [
                ("op-a", Role.OPERATOR),
                ("op-b", Role.OPERATOR),
                ("sup", Role.SUPERVISOR),
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
        return Seeded(rounds=rounds, users=users)
    finally:
        await engine.dispose()
