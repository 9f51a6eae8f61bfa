"""Demo data: a small district of customers whose meters are simulated, seeded idempotently.

Everything is created through the same tables and services production uses, keyed by natural
numbers (customer 户号, meter id), so running the demo again reuses what is there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.db import create_engine, session_factory
from backend.field.models import Grid, TransformerArea
from backend.metering.models import Agent, Meter, MeterStatus
from backend.settings import Settings
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.service import store_tariffs

T = TypeVar("T")

# West Lake district, Hangzhou: real-looking coordinates for the inspector's map
BASE_LAT, BASE_LON = 30.2590, 120.1300
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
    dlt645_port: int
    modbus_port: int
    dlt645: list[DemoMeter] = field(default_factory=list)
    modbus: list[DemoMeter] = field(default_factory=list)
    manual: list[DemoMeter] = field(default_factory=list)  # read by inspectors, no AMI

    @classmethod
    def plan(cls, *, meters: int, speed: float, dlt645_port: int, modbus_port: int) -> DemoFleet:
        fleet = cls("demo-agent", speed, dlt645_port, modbus_port)
        n_modbus = max(1, meters // 3)
        n_dlt = max(1, meters - n_modbus)
        for i in range(n_dlt):
            address = f"{111111111111 + i:012d}"
            fleet.dlt645.append(
                _meter(i, f"m-{address}", address, "dlt645", CustomerCategory.RESIDENTIAL)
            )
        for i in range(n_modbus):
            fleet.modbus.append(
                _meter(
                    100 + i, f"mb-{i + 1:03d}", str(i + 1), "modbus", CustomerCategory.COMMERCIAL
                )
            )
        for i in range(24):
            fleet.manual.append(
                _meter(200 + i, f"man-{i + 1:04d}", "", "manual", CustomerCategory.RESIDENTIAL)
            )
        return fleet

    def all(self) -> Iterator[DemoMeter]:
        yield from self.dlt645
        yield from self.modbus
        yield from self.manual

    def accounts_help(self) -> list[str]:
        return []


def _meter(i: int, meter_id: str, address: str, protocol: str, cat: CustomerCategory) -> DemoMeter:
    # a walkable grid of streets: ~70 m between buildings
    row, col = divmod(i, 6)
    name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)]
    if cat is CustomerCategory.COMMERCIAL:
        name += "商店"
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


async def seed(settings: Settings, fleet: DemoFleet) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            await store_tariffs(session, load_file(DEFAULT_FILE))  # prepaid billing needs them
            grid = await _get_or_create(session, Grid, {"code": "XH-01"}, name="西湖网格一")
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
                )
    finally:
        await engine.dispose()
