"""A realistic, deterministic district for field tests: Hangzhou, Xihu district (西湖区),
around 30.27 N 120.15 E.

Three east–west roads with a building about every 106 m on their north side: residential
buildings (one unit, six floors, two flats: twelve meters sharing one meter box), shops (one
meter) and four key accounts (two meters each, key_account_class set). The district is split
into three grids by longitude (west, central, east), each owned by one inspector. About half of
the buildings sit on a concentrator (AMI readings two hours old); the others were last read by
hand thirty days ago. Every meter has sixty days of history, so its usual use is known.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Customer
from backend.auth.models import User
from backend.field.grids.models import Grid, TransformerArea
from backend.metering.models import Agent, Meter, Reading

NOW_MS = int(datetime(2026, 11, 20, 2, 0, tzinfo=UTC).timestamp() * 1000)  # 10:00 in Hangzhou
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
CENTRE = (30.2700, 120.1500)
ROADS = [("文一路", 30.2650), ("文二路", 30.2700), ("文三路", 30.2750)]
WEST_EDGE, EAST_EDGE = 120.1473, 120.1527
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明"]
KEY_ACCOUNTS = [
    "杭州西溪数码科技有限公司",
    "浙江文三电子市场",
    "杭州古荡热处理厂",
    "西湖区人民医院分院",
]
GRIDS = ("west", "central", "east")


@dataclass
class MeterInfo:
    pk: int
    meter_id: str
    customer_id: int
    customer_number: str
    grid: str
    kind: str  # flat, shop, key
    lat: float
    lon: float
    ami: bool
    usual_wh: int  # per day
    last_ts: int
    last_value: int

    def value_at(self, ts: int) -> int:
        """A plausible energy_import register at ``ts``, in 10 Wh steps like a DL/T 645 meter."""
        wh = self.last_value + self.usual_wh * (ts - self.last_ts) / DAY_MS
        return int(wh) // 10 * 10


@dataclass
class District:
    users: dict[str, int]
    grids: dict[str, int]
    inspectors: dict[str, int]  # grid name → inspector user id
    meters: list[MeterInfo] = field(default_factory=list)
    key_customers: list[int] = field(default_factory=list)

    def in_grid(
        self, grid: str, *, ami: bool | None = None, kind: str | None = None
    ) -> list[MeterInfo]:
        return [
            m
            for m in self.meters
            if m.grid == grid and (ami is None or m.ami == ami) and (kind is None or m.kind == kind)
        ]

    def meter(self, meter_id: str) -> MeterInfo:
        return next(m for m in self.meters if m.meter_id == meter_id)


def _grid_of(lon: float) -> str:
    return "west" if lon < WEST_EDGE else ("east" if lon >= EAST_EDGE else "central")


async def build_district(engine: AsyncEngine, seed: int = 20261120) -> District:
    rng = random.Random(seed)
    user_rows = [
        {"id": 1, "username": "admin", "role": "admin", "display_name": "系统管理员"},
        {"id": 2, "username": "sup-chen", "role": "supervisor", "display_name": "陈主管"},
        {"id": 3, "username": "sup-lin", "role": "supervisor", "display_name": "林主管"},
        {"id": 4, "username": "op-95598", "role": "operator", "display_name": "95598 坐席"},
        {"id": 5, "username": "insp-west", "role": "inspector", "display_name": "王抄表"},
        {"id": 6, "username": "insp-central", "role": "inspector", "display_name": "李抄表"},
        {"id": 7, "username": "insp-east", "role": "inspector", "display_name": "张抄表"},
    ]
    for row in user_rows:
        row.update(password_hash="!", active=True, created_at=datetime.now(UTC))
    district = District(
        users={r["username"]: r["id"] for r in user_rows},
        grids={g: n for n, g in enumerate(GRIDS, 1)},
        inspectors={g: 5 + n for n, g in enumerate(GRIDS)},
    )
    grid_rows = [
        {"id": n, "code": f"XH-{g.upper()}", "name": f"西湖{g}网格", "inspector_id": 5 + n - 1}
        for n, g in enumerate(GRIDS, 1)
    ]
    areas: list[dict[str, object]] = []
    area_of: dict[tuple[int, str], int] = {}
    for r, (road, _) in enumerate(ROADS):
        for g in GRIDS:
            area_of[(r, g)] = len(areas) + 1
            areas.append(
                {"id": len(areas) + 1, "code": f"TA-{r}-{g}", "name": f"{road}{g}台区",
                 "grid_id": district.grids[g]}
            )  # fmt: skip
    customers: list[dict[str, object]] = []
    meters: list[dict[str, object]] = []
    readings: list[dict[str, object]] = []
    agents = [
        {"id": f"conc-{a['id']}", "name": f"集中器 {a['code']}", "version": "1", "online": True}
        for a in areas
    ]
    key_index = {(0, 3), (1, 9), (2, 5), (2, 12)}
    n_building = 0
    for r, (road, lat) in enumerate(ROADS):
        lon = 120.1420
        b = 0
        while lon <= 120.1580:
            n_building += 1
            grid = _grid_of(lon)
            number = 2 * (b + 1)
            blat = round(lat + 0.0004 + rng.uniform(-0.00005, 0.00005), 6)
            blon = round(lon + rng.uniform(-0.00008, 0.00008), 6)
            if (r, b) in key_index:
                kind, units = "key", [("", blat, blon)] * 2
            elif rng.random() < 0.3:
                kind, units = "shop", [("商铺", round(lat + 0.0002, 6), blon)]
            else:
                kind = "flat"
                units = [(f"1单元{f}0{d}室", blat, blon) for f in range(1, 7) for d in (1, 2)]
            ami = kind == "key" or rng.random() < 0.5
            for u, (unit, ulat, ulon) in enumerate(units):
                if kind == "key" and u == 1:
                    customer_id = int(customers[-1]["id"])  # type: ignore[call-overload]
                else:
                    customer_id = len(customers) + 1
                    name = (
                        KEY_ACCOUNTS[len(district.key_customers)]
                        if kind == "key"
                        else rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(["", *GIVEN])
                    )
                    customers.append({
                        "id": customer_id, "number": f"33060{customer_id:05d}", "name": name,
                        "phone": f"1{rng.randint(3, 9)}{rng.randint(0, 999999999):09d}",
                        "category": {"flat": "residential", "shop": "commercial",
                                     "key": "general_industry"}[kind],
                        "address": f"杭州市西湖区{road}{number}号{unit}",
                        "latitude": ulat, "longitude": ulon, "grid_id": district.grids[grid],
                        "transformer_area_id": area_of[(r, grid)], "protected": False,
                        "key_account_class": (1 if len(district.key_customers) % 2 == 0 else 2)
                        if kind == "key" else None,
                        "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC),
                    })  # fmt: skip
                    if kind == "key":
                        district.key_customers.append(customer_id)
                pk = len(meters) + 1
                meter_id = f"3301060{pk:05d}"
                meters.append({
                    "id": pk, "meter_id": meter_id, "serial": f"XH{pk:08d}",
                    "protocol": "dlt645" if ami else "manual", "address": meter_id,
                    "agent_id": f"conc-{area_of[(r, grid)]}" if ami else None,
                    "customer_id": customer_id, "status": "active", "latitude": ulat,
                    "longitude": ulon, "relay_control_mode": 2, "online": ami,
                    "created_at": datetime.now(UTC),
                })  # fmt: skip
                usual = {"flat": rng.randint(3, 15), "shop": rng.randint(10, 40),
                         "key": rng.randint(300, 1500)}[kind] * 1000  # fmt: skip
                start = rng.randint(100, 5000) * 10_000
                history = [
                    (NOW_MS - 60 * DAY_MS, start),
                    (NOW_MS - 30 * DAY_MS, start + usual * 30),
                ]
                if ami:
                    history.append((NOW_MS - 2 * HOUR_MS, start + usual * 60 - usual // 12))
                for ts, value in history:
                    readings.append({
                        "meter_pk": pk, "quantity": "energy_import", "ts": ts,
                        "value": value // 10 * 10, "quality": "good",
                        "source": "ami" if ami else "field", "received_at": ts,
                    })  # fmt: skip
                last_ts, last_value = history[-1]
                district.meters.append(
                    MeterInfo(pk, meter_id, customer_id, f"33060{customer_id:05d}", grid, kind,
                              ulat, ulon, ami, usual, last_ts, last_value // 10 * 10)
                )  # fmt: skip
            lon += 0.0011
            b += 1
    async with engine.begin() as conn:
        await conn.execute(sa.insert(Grid), [{**g, "inspector_id": None} for g in grid_rows])
        await conn.execute(sa.insert(TransformerArea), areas)
        await conn.execute(sa.insert(Customer), customers)
        await conn.execute(sa.insert(User), user_rows)
        for g in grid_rows:
            await conn.execute(
                sa.update(Grid).where(Grid.id == g["id"]).values(inspector_id=g["inspector_id"])
            )
        await conn.execute(sa.insert(Agent), agents)
        await conn.execute(sa.insert(Meter), meters)
        await conn.execute(sa.insert(Reading), readings)
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("users", "grids", "transformer_areas", "customers", "meters"):
                await conn.execute(
                    sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))")
                )  # fmt: skip
    return district
