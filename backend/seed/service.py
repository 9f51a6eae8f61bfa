"""The synthetic utility as pure functions: a spec and a seed in, table rows out (no database).

Every customer ``i`` draws from its own ``random.Random`` seeded by ``(seed, i)``, so a customer
is the same whichever chunk generates it and however large the utility is around it, and two
runs with the same spec produce the same rows. Consumption and charges are not invented: they
are computed from the generated readings by the engines' own pure rules
(``backend.metering.consumption_rules.chain``/``days_of`` and ``backend.tariffs.rating``), exactly
as the consumption engine and continuous billing would compute them on arrival.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backend.accounts.models import AccountKind, CustomerCategory
from backend.metering.consumption_rules import Point, chain, days_of
from backend.seed import profiles as P
from backend.types import midnight_ms
from protocols.contract import Quality, Quantity, RelayState

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
ENERGY = Quantity.ENERGY_IMPORT
PROTOCOL_NAMES = ("dlt645", "modbus", "manual")
FULL_HISTORY_DEFAULT = 2000  # beyond this, the others get the recent days only (docs/seed.md)
OFFLINE_EXAMPLE = 3  # this customer's networked meter is offline, at every size
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞建国志斌"
STREETS = ("文三路", "学院路", "教工路", "古翠路", "莫干山路", "天目山路", "保俶路", "西溪路")


@dataclass(frozen=True)
class SeedSpec:
    accounts: int
    until: date  # local day: the history ends at the midnight opening it
    seed: int = 1
    months: int = 13
    # accounts with the full history; None: all up to FULL_HISTORY_DEFAULT, then that many
    history_accounts: int | None = None
    recent_days: int = 31  # daily readings of the other accounts
    hourly_days: int = 2  # hourly readings at the end of the full histories
    timezone: str = "Asia/Shanghai"
    prefix: str = ""  # natural keys start with it (default "S<seed>")
    customer_users: int = 20  # customers with a login
    centre: tuple[float, float] = (30.2590, 120.1300)  # West Lake district, Hangzhou

    def __post_init__(self) -> None:
        if self.accounts < 1:
            raise ValueError("accounts must be at least 1")
        if not 1 <= self.months <= 36:
            raise ValueError("months must be 1..36")
        if self.recent_days < 2 or self.hourly_days < 0:
            raise ValueError("recent_days must be at least 2 and hourly_days not negative")

    @property
    def key(self) -> str:
        return self.prefix or f"S{self.seed}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def full(self) -> int:
        h = FULL_HISTORY_DEFAULT if self.history_accounts is None else self.history_accounts
        return max(0, min(h, self.accounts))

    @property
    def history_start(self) -> date:
        y, m = divmod(self.until.year * 12 + self.until.month - 1 - self.months, 12)
        return date(y, m + 1, 1) if self.until.day > 28 else date(y, m + 1, self.until.day)

    @property
    def clock(self) -> datetime:
        """The seeded world's "now": the end of the history (what created_at columns show)."""
        return datetime.combine(self.until, time(0), self.tz).astimezone(UTC)

    @property
    def grids(self) -> int:
        return max(1, math.ceil(self.accounts / P.CUSTOMERS_PER_GRID))

    @property
    def areas(self) -> int:
        return max(1, math.ceil(self.accounts / P.CUSTOMERS_PER_AREA))


@dataclass(frozen=True)
class Ids:
    """First id of each table: seeded rows follow what the database already holds."""

    customer: int = 1
    account: int = 1
    meter: int = 1
    user: int = 1
    grid: int = 1
    area: int = 1


@dataclass
class Counters:
    """Running ids of the tables filled account by account."""

    ledger: int = 1
    charge: int = 1
    topup: int = 1


def rng_for(seed: int, *parts: int) -> random.Random:
    n = seed
    for p in parts:
        n = n * 1_000_003 + p
    return random.Random(n)


# --- places and people -------------------------------------------------------------------


def grid_of_area(spec: SeedSpec, area: int) -> int:
    return min(spec.grids - 1, area * P.CUSTOMERS_PER_AREA // P.CUSTOMERS_PER_GRID)


def area_centre(spec: SeedSpec, area: int) -> tuple[float, float]:
    """Grids on a lattice ~3 km apart, areas on a ~300 m lattice inside their grid."""
    g = grid_of_area(spec, area)
    side = max(1, math.ceil(math.sqrt(spec.grids)))
    gr, gc = divmod(g, side)
    first = next(a for a in range(spec.areas) if grid_of_area(spec, a) == g)
    ar, ac = divmod(area - first, 9)
    lat = spec.centre[0] + gr * 0.027 + ar * 0.0027
    lon = spec.centre[1] + gc * 0.031 + ac * 0.0031
    return round(lat, 6), round(lon, 6)


def grid_rows(spec: SeedSpec, ids: Ids) -> list[dict[str, Any]]:
    return [
        {"id": ids.grid + g, "code": f"{spec.key}-G{g + 1:03d}", "name": f"合成网格{g + 1}",
         "inspector_id": ids.user + g}
        for g in range(spec.grids)
    ]  # fmt: skip


def area_rows(spec: SeedSpec, ids: Ids) -> list[dict[str, Any]]:
    return [
        {"id": ids.area + a, "code": f"{spec.key}-TA{a + 1:05d}", "name": f"合成台区{a + 1}",
         "grid_id": ids.grid + grid_of_area(spec, a)}
        for a in range(spec.areas)
    ]  # fmt: skip


def agent_rows(spec: SeedSpec) -> list[dict[str, Any]]:
    """One concentrator (集中器) per transformer area."""
    return [
        {"id": agent_id(spec, a), "name": f"集中器 {a + 1}", "version": "seed", "online": True,
         "last_seen_at": spec.clock}
        for a in range(spec.areas)
    ]  # fmt: skip


def agent_id(spec: SeedSpec, area: int) -> str:
    return f"{spec.key.lower()}-conc-{area + 1:05d}"


def staff_rows(spec: SeedSpec, ids: Ids, password_hash: str) -> list[dict[str, Any]]:
    """An inspector per grid (user ids ids.user + g), then two operators and a supervisor."""
    k = spec.key.lower()
    rows = [(f"{k}-inspector-{g + 1}", "inspector", f"客户经理 {g + 1}") for g in range(spec.grids)]
    rows += [(f"{k}-operator-1", "operator", "95598 值班员"),
             (f"{k}-operator-2", "operator", "95598 复核员"),
             (f"{k}-supervisor", "supervisor", "抄表班长")]  # fmt: skip
    return [
        {"id": ids.user + n, "username": u, "password_hash": password_hash, "role": role,
         "display_name": name, "customer_id": None, "active": True, "created_at": spec.clock}
        for n, (u, role, name) in enumerate(rows)
    ]  # fmt: skip


def customer_user_rows(
    spec: SeedSpec, ids: Ids, password_hash: str, customers: list[SeedCustomer]
) -> list[dict[str, Any]]:
    first = ids.user + spec.grids + 3
    k = spec.key.lower()
    return [
        {"id": first + n, "username": f"{k}-customer-{c.i + 1}", "password_hash": password_hash,
         "role": "customer", "display_name": c.name, "customer_id": ids.customer + c.i,
         "active": True, "created_at": spec.clock}
        for n, c in enumerate(customers)
    ]  # fmt: skip


@dataclass(frozen=True)
class SeedCustomer:
    """Everything drawn for customer ``i`` (its account and its one meter)."""

    i: int
    number: str
    name: str
    category: CustomerCategory
    kind: AccountKind
    protocol: str
    area: int
    lat: float
    lon: float
    protected: bool
    arrears: bool  # stops paying near the end of the history (prepaid only)
    silent_days: int  # a networked meter offline for this many days (0: online)
    scale: float  # this customer's usage against its category's median
    register_wh: int  # the meter's register at the start of its readings
    full: bool  # has the full history (else the recent days only)


def pick(r: random.Random, shares: Any) -> Any:
    x, acc = r.random(), 0.0
    for value, share in shares:
        acc += share
        if x < acc:
            return value
    return shares[-1][0]


def full_history(spec: SeedSpec, i: int) -> bool:
    """Exactly ``spec.full`` customers, spread evenly over the utility."""
    n, h = spec.accounts, spec.full
    return (i + 1) * h // n > i * h // n


def customer(spec: SeedSpec, i: int) -> SeedCustomer:
    r = rng_for(spec.seed, 1, i)
    cats = [c for c, _ in P.CATEGORY_MIX]
    # the first customers cover every category, every protocol and an offline meter, whatever
    # the size (customer 3 is a networked meter silent for days)
    cat = cats[i] if i < len(cats) else pick(r, P.CATEGORY_MIX)
    if i < len(PROTOCOL_NAMES):
        proto = PROTOCOL_NAMES[i]
    elif i == OFFLINE_EXAMPLE:
        proto = "dlt645"
    else:
        proto = pick(r, list(zip(PROTOCOL_NAMES, P.PROTOCOLS[cat], strict=True)))
    expected_prepaid = sum(s * P.PREPAID[c] for c, s in P.CATEGORY_MIX)
    prepaid = r.random() < P.PREPAID[cat]
    arrears = prepaid and r.random() < P.ARREARS_SHARE / expected_prepaid
    area = min(spec.areas - 1, i // P.CUSTOMERS_PER_AREA)
    clat, clon = area_centre(spec, area)
    silent = r.randint(*P.OFFLINE_DAYS) if proto != "manual" and r.random() < P.OFFLINE_SHARE else 0
    silent = P.OFFLINE_DAYS[0] if i == OFFLINE_EXAMPLE else silent
    name = r.choice(SURNAMES) + r.choice(GIVEN) + (r.choice(GIVEN) if r.random() < 0.6 else "")
    if cat is not CustomerCategory.RESIDENTIAL:
        name += {"commercial": "商店", "general_industry": "制造有限公司",
                 "large_industry": "工业集团", "agricultural": "农场",
                 "non_residential_lighting": "事务所"}[cat.value]  # fmt: skip
    big = cat in (CustomerCategory.LARGE_INDUSTRY, CustomerCategory.GENERAL_INDUSTRY)
    return SeedCustomer(
        i=i,
        number=f"{spec.key}{i + 1:08d}",
        name=name,
        category=cat,
        kind=AccountKind.PREPAID if prepaid else AccountKind.POSTPAID,
        protocol=proto,
        area=area,
        lat=round(clat + r.uniform(-0.0012, 0.0012), 6),
        lon=round(clon + r.uniform(-0.0014, 0.0014), 6),
        protected=r.random() < P.PROTECTED_SHARE,
        arrears=arrears,
        silent_days=silent,
        scale=math.exp(r.gauss(0.0, 0.45)),
        register_wh=int(r.uniform(5e7, 5e8) if big else r.uniform(1e6, 2e7)) // 10 * 10,
        full=full_history(spec, i),
    )


def entity_rows(spec: SeedSpec, ids: Ids, c: SeedCustomer) -> dict[str, dict[str, Any]]:
    """The customer's customers, accounts and meters rows."""
    r = rng_for(spec.seed, 2, c.i)
    cid, aid, mid = ids.customer + c.i, ids.account + c.i, ids.meter + c.i
    street = STREETS[c.area % len(STREETS)]
    k = spec.key
    if c.protocol == "dlt645":
        address = f"{spec.seed % 1000:03d}{c.i + 1:09d}"
    elif c.protocol == "modbus":
        address = str(1 + c.i % 247)
    else:
        address = ""
    online = c.protocol != "manual" and c.silent_days == 0
    seen = spec.clock - timedelta(days=c.silent_days) if c.protocol != "manual" else None
    installed = spec.history_start - timedelta(days=r.randint(30, 2000))
    return {
        "customers": {
            "id": cid, "number": c.number, "name": c.name, "phone": f"138{c.i:08d}"[-11:],
            "category": c.category.value,
            "address": f"杭州市西湖区{street}{c.i // P.CUSTOMERS_PER_AREA + 1}号{c.i % 150 + 1}室",
            "latitude": c.lat, "longitude": c.lon, "grid_id": ids.grid + grid_of_area(spec, c.area),
            "transformer_area_id": ids.area + c.area, "protected": c.protected,
            "key_account_class": 1 if c.category is CustomerCategory.LARGE_INDUSTRY else None,
            "created_at": spec.clock, "updated_at": spec.clock,
        },
        "accounts": {
            "id": aid, "number": f"A{c.number}", "customer_id": cid, "kind": c.kind.value,
            "balance_fen": 0, "credit_limit_fen": 0, "cycle_start": None,
            "opened_at": datetime.combine(installed, time(9), UTC),
        },
        "meters": {
            "id": mid, "meter_id": f"{k.lower()}-{c.protocol}-{c.i + 1:08d}",
            "serial": f"{k}M{c.i + 1:010d}", "protocol": c.protocol, "address": address,
            "agent_id": None if c.protocol == "manual" else agent_id(spec, c.area),
            "customer_id": cid, "account_id": aid, "status": "active", "installed_on": installed,
            "expires_on": installed + timedelta(days=8 * 365), "removed_at": None,
            "replaces_meter_id": None, "latitude": c.lat, "longitude": c.lon,
            "relay_control_mode": 2,
            "relay_state": None if c.protocol == "manual" else int(RelayState.CONNECTED),
            "online": online, "last_seen_at": seen, "created_at": spec.clock,
        },
    }  # fmt: skip


# --- readings ------------------------------------------------------------------------------


def day_energy_wh(spec: SeedSpec, c: SeedCustomer, day: date, r: random.Random) -> int:
    """The energy of local ``day``: category median x customer scale x season x weekday x noise."""
    kwh = P.DAILY_KWH[c.category] * c.scale * P.SEASON[c.category][day.month - 1]
    if day.weekday() >= 5:
        kwh *= P.WEEKEND[c.category]
    kwh *= min(1.8, max(0.3, r.gauss(1.0, 0.15)))
    return int(kwh * 1000)


def _hour_split(wh: int, shape: tuple[float, ...], r: random.Random) -> list[int]:
    weights = [w * r.uniform(0.8, 1.2) for w in shape]
    total = sum(weights)
    parts = [int(wh * w / total) for w in weights]
    parts[max(range(24), key=lambda h: weights[h])] += wh - sum(parts)
    return parts


def reading_points(spec: SeedSpec, c: SeedCustomer) -> list[Point]:
    """The meter's energy_import register (integer Wh), in time order.

    Networked meters: the value at every local midnight (the daily frozen value, 日冻结), and
    every hour over the last ``hourly_days`` of a full history; a silent meter stops when it went
    offline. Manual meters: one reading a month, on the 20th at 10:00, by the inspector."""
    tz = spec.tz
    r = rng_for(spec.seed, 3, c.i)
    first = spec.history_start if c.full else spec.until - timedelta(days=spec.recent_days)
    last = spec.until - timedelta(days=c.silent_days)
    hourly_from = spec.until - timedelta(days=spec.hourly_days) if c.full else last
    step = 10 if c.protocol == "dlt645" else 1  # DL/T 645 XXXXXX.XX kWh: 10 Wh resolution
    value = c.register_wh
    points: list[Point] = []
    if c.protocol != "manual":
        points.append(Point(midnight_ms(first, tz), value // step * step))
    day = first
    while day < last:
        wh = day_energy_wh(spec, c, day, r)
        start = midnight_ms(day, tz)
        if c.protocol == "manual":
            read_at = start + 10 * HOUR_MS
            if day.day == 20:  # read before the day's use: the day's energy follows
                points.append(Point(read_at, value))
        elif day >= hourly_from:
            acc = value
            for h, part in enumerate(_hour_split(wh, P.HOURLY[c.category], r)[:-1]):
                acc += part
                points.append(Point(start + (h + 1) * HOUR_MS, acc // step * step))
        value += wh
        day += timedelta(days=1)
        if c.protocol != "manual":
            points.append(Point(midnight_ms(day, tz), value // step * step))
    return points


def reading_rows(
    spec: SeedSpec, ids: Ids, c: SeedCustomer, points: list[Point]
) -> list[tuple[Any, ...]]:
    """(meter_pk, quantity, ts, value, quality, source, received_at) rows."""
    source = "field" if c.protocol == "manual" else "ami"
    delay = 4 * HOUR_MS if c.protocol == "manual" else 90_000  # a field reading syncs later
    pk = ids.meter + c.i
    return [(pk, ENERGY, p.ts, p.value, Quality.GOOD, source, p.ts + delay) for p in points]


def consumption_rows(
    spec: SeedSpec, ids: Ids, c: SeedCustomer, points: list[Point]
) -> list[tuple[Any, ...]]:
    """consumption_daily rows, by the consumption engine's own rules."""
    intervals, anomalies, first = chain(None, points)
    pk, now = ids.meter + c.i, spec.clock
    return [
        (pk, ENERGY, d.day, d.wh, d.first.ts, d.last.ts, d.first.value, d.last.value, d.through,
         d.intervals, d.rollovers, d.anomalies, now)
        for d in days_of(first, intervals, anomalies, spec.tz)
    ]  # fmt: skip


CONSUMPTION_COLUMNS = (
    "meter_pk", "quantity", "day", "wh", "first_ts", "last_ts", "first_value", "last_value",
    "through_ts", "intervals", "rollovers", "anomalies", "computed_at",
)  # fmt: skip
READING_COLUMNS = ("meter_pk", "quantity", "ts", "value", "quality", "source", "received_at")
