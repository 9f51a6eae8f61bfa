"""Writing the synthetic utility: bulk inserts in chunks of accounts, one transaction each.

SQLite gets ``executemany`` on the driver connection (values converted as SQLAlchemy stores
them); PostgreSQL gets ``COPY`` (asyncpg's ``copy_records_to_table``). Ids are assigned here,
after what the database already holds, so related rows need no round trip; PostgreSQL's
sequences are moved past them at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.auth.guards import Caller
from backend.auth.models import Role, User
from backend.db import session_factory
from backend.field.books.service import generate as generate_book
from backend.field.grids.models import Grid, TransformerArea
from backend.metering import collection
from backend.metering.models import Meter, MeterStatus
from backend.metering.partitions import ensure_reading_partitions
from backend.prepaid.models import BillingState, Charge, LedgerEntry, TopUp
from backend.seed import ledger
from backend.seed import service as S
from backend.seed.desk import seed_desk
from backend.settings import Settings
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.model import Tariff
from backend.tariffs.rating import Schedule
from backend.tariffs.service import all_tariffs, store_tariffs
from backend.types import to_epoch_ms

log = logging.getLogger("meterline.seed")

CHUNK = 1000  # accounts per transaction
SEQUENCED = ("users", "grids", "transformer_areas", "customers", "accounts", "meters",
             "ledger_entries", "charges", "topups")  # fmt: skip


class SeedError(RuntimeError):
    """The utility cannot be seeded as asked; the message says why."""


@dataclass
class SeedReport:
    accounts: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    users: list[str] = field(default_factory=list)  # usernames created
    customer_usernames: list[str] = field(default_factory=list)

    def add(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


def _sqlite_datetime(v: datetime) -> str:
    """As SQLAlchemy's SQLite DATETIME stores it: naive UTC, always with microseconds."""
    text_ = (v if v.tzinfo is UTC else v.astimezone(UTC)).replace(tzinfo=None).isoformat(" ")
    return text_ if len(text_) > 19 else text_ + ".000000"


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return _sqlite_datetime(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    return v


async def insert_rows(
    conn: AsyncConnection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """Bulk-insert tuples into ``table`` inside the connection's transaction."""
    if not rows:
        return 0
    # begin through SQLAlchemy, so that its commit() commits what the driver writes below
    await conn.execute(text("SELECT 1"))
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        await raw.copy_records_to_table(table, records=rows, columns=list(columns))
        return len(rows)
    # columns whose values SQLite needs converted (judged on the first row; None stays None)
    convert = [i for i, v in enumerate(rows[0]) if isinstance(v, datetime | date | bool)]
    if convert:
        out = []
        for r in rows:
            row = list(r)
            for i in convert:
                v = row[i]
                if v is not None:
                    row[i] = _sqlite_value(v)
            out.append(row)
        rows = out
    cols = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    await raw.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # noqa: S608
    return len(rows)


async def insert_dicts(conn: AsyncConnection, table: str, rows: Sequence[dict[str, Any]]) -> int:
    if not rows:
        return 0
    columns = list(rows[0])
    return await insert_rows(conn, table, columns, [tuple(r[c] for c in columns) for r in rows])


async def _next_id(conn: AsyncConnection, model: Any) -> int:
    return int(await conn.scalar(select(func.coalesce(func.max(model.id), 0))) or 0) + 1


async def _ids(conn: AsyncConnection) -> tuple[S.Ids, S.Counters]:
    ids = S.Ids(
        customer=await _next_id(conn, Customer), account=await _next_id(conn, Account),
        meter=await _next_id(conn, Meter), user=await _next_id(conn, User),
        grid=await _next_id(conn, Grid), area=await _next_id(conn, TransformerArea),
    )  # fmt: skip
    counters = S.Counters(
        ledger=await _next_id(conn, LedgerEntry), charge=await _next_id(conn, Charge),
        topup=await _next_id(conn, TopUp),
    )  # fmt: skip
    return ids, counters


async def tariff_schedules(
    engine: AsyncEngine, first_day: date
) -> dict[CustomerCategory, Schedule]:
    """The stored schedules, made to cover the history: the default file when nothing is
    stored, and for a category whose first tariff starts after ``first_day``, the same prices
    from the first of January before (a synthetic utility's earlier tariff)."""
    async with session_factory(engine)() as session, session.begin():
        stored = await all_tariffs(session)
        if not stored:
            await store_tariffs(session, load_file(DEFAULT_FILE))
            stored = await all_tariffs(session)
        stored = [t for t in stored if not t.schedule]  # the categories' default schedules
        by: dict[CustomerCategory, list[Tariff]] = {}
        for t in stored:
            by.setdefault(t.category, []).append(t)
        earlier = []
        for cat, ts in by.items():
            first = min(ts, key=lambda t: t.effective_from)
            if first.effective_from > first_day:
                start = date(first_day.year, 1, 1)
                earlier.append(
                    msgspec.structs.replace(
                        first, code=f"{first.code}-FROM-{start.year}", effective_from=start,
                        name=f"{first.name} ({start.year})",
                    )
                )  # fmt: skip
                log.info("tariff %s: stored from %s to cover the history", cat.value, start)
        if earlier:
            await store_tariffs(session, earlier)
            stored += earlier
    by = {}
    for t in stored:
        by.setdefault(t.category, []).append(t)
    return {c: Schedule(ts) for c, ts in by.items()}


async def _already(conn: AsyncConnection, spec: S.SeedSpec) -> bool:
    number = S.customer(spec, 0).number
    return (await conn.scalar(select(Customer.id).where(Customer.number == number))) is not None


async def seed(
    engine: AsyncEngine,
    spec: S.SeedSpec,
    settings: Settings,
    *,
    password_hash: str,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Build the utility of ``spec`` in the database. Refuses to run twice with one prefix."""
    t0 = _time.perf_counter()
    report = SeedReport()
    pg = engine.dialect.name == "postgresql"
    async with engine.connect() as conn:
        if await _already(conn, spec):
            raise SeedError(
                f"customers of prefix {spec.key!r} exist already: seed into an empty database "
                "or choose another --prefix"
            )
        ids, counters = await _ids(conn)
        await conn.rollback()
        if pg:  # a partition per month of history, so nothing lands in readings_default
            first = spec.history_start
            await ensure_reading_partitions(
                conn, months_ahead=spec.months + 2,
                now=datetime(first.year, first.month, 1, tzinfo=UTC),
            )  # fmt: skip
    schedules = await tariff_schedules(engine, spec.history_start)
    async with engine.connect() as conn:
        if not pg:
            await conn.execute(text("PRAGMA cache_size=-262144"))  # 256 MB while seeding
        staff = S.staff_rows(spec, ids, password_hash)
        report.add("users", await insert_dicts(conn, "users", [
            {**u, "id": u["id"]} for u in staff
        ]))  # fmt: skip
        report.users = [u["username"] for u in staff]
        report.add("grids", await insert_dicts(conn, "grids", S.grid_rows(spec, ids)))
        report.add("transformer_areas", await insert_dicts(
            conn, "transformer_areas", S.area_rows(spec, ids)))  # fmt: skip
        await insert_dicts(conn, "agents", S.agent_rows(spec))
        await conn.commit()
        with_login: list[S.SeedCustomer] = []
        for lo in range(0, spec.accounts, CHUNK):
            drawn = [S.customer(spec, i) for i in range(lo, min(spec.accounts, lo + CHUNK))]
            await _chunk(conn, spec, ids, counters, drawn, schedules, report)
            await conn.commit()
            with_login += [c for c in drawn if c.full and c.kind is AccountKind.PREPAID][
                : max(0, spec.customer_users - len(with_login))
            ]
            if progress is not None:
                progress(len(drawn))
        users = S.customer_user_rows(spec, ids, password_hash, with_login)
        report.add("users", await insert_dicts(conn, "users", users))
        report.customer_usernames = [u["username"] for u in users]
        await conn.commit()
    report.accounts = spec.accounts
    await _books(engine, spec, ids, settings, report)
    await _collection_summary(engine, spec, settings)
    async with engine.connect() as conn:
        if pg:
            for table in SEQUENCED:  # names from the constant above: nothing to inject
                await conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                    f" (SELECT max(id) FROM {table}))"
                ))  # fmt: skip
        await conn.commit()
    for table, n in (await seed_desk(engine, spec, ids, settings)).items():
        report.add(table, n)  # after the sequences: the desk's rows take ids as the API's do
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    report.seconds = _time.perf_counter() - t0
    return report


async def _chunk(
    conn: AsyncConnection,
    spec: S.SeedSpec,
    ids: S.Ids,
    counters: S.Counters,
    drawn: list[S.SeedCustomer],
    schedules: dict[CustomerCategory, Schedule],
    report: SeedReport,
) -> None:
    tables: dict[str, list[dict[str, Any]]] = {"customers": [], "accounts": [], "meters": []}
    readings: list[tuple[Any, ...]] = []
    days: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    charges: list[tuple[Any, ...]] = []
    topups: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    for c in drawn:
        rows = S.entity_rows(spec, ids, c)
        points = S.reading_points(spec, c)
        readings += S.reading_rows(spec, ids, c, points)
        days += S.consumption_rows(spec, ids, c, points)
        m = ledger.money(spec, ids, counters, c, points, schedules[c.category])
        rows["accounts"]["balance_fen"] = m.balance_fen
        for name, row in rows.items():
            tables[name].append(row)
        entries += m.entries
        charges += m.charges
        topups += m.topups
        if m.state is not None:
            states.append(m.state)
    for name in ("customers", "accounts", "meters"):
        report.add(name, await insert_dicts(conn, name, tables[name]))
    report.add("readings", await insert_rows(conn, "readings", S.READING_COLUMNS, readings))
    report.add("consumption_daily", await insert_rows(
        conn, "consumption_daily", S.CONSUMPTION_COLUMNS, days))  # fmt: skip
    report.add("ledger_entries", await insert_rows(
        conn, "ledger_entries", ledger.ENTRY_COLUMNS, entries))  # fmt: skip
    report.add("charges", await insert_rows(conn, "charges", ledger.CHARGE_COLUMNS, charges))
    report.add("topups", await insert_dicts(conn, "topups", topups))
    report.add("billing_states", await insert_dicts(conn, "billing_states", states))


async def _books(
    engine: AsyncEngine, spec: S.SeedSpec, ids: S.Ids, settings: Settings, report: SeedReport
) -> None:
    """Each inspector's reading book for the current cycle, made by the books service."""
    now = to_epoch_ms(spec.clock)
    for g in range(spec.grids):
        uid = ids.user + g
        async with session_factory(engine)() as session:
            caller = Caller(user_id=uid, username=f"{spec.key.lower()}-inspector-{g + 1}",
                            role=Role.INSPECTOR, grid_ids=(ids.grid + g,))  # fmt: skip
            await generate_book(session, caller, uid, None, now, settings)
            await session.commit()
        report.add("reading_books", 1)


async def _collection_summary(engine: AsyncEngine, spec: S.SeedSpec, settings: Settings) -> None:
    """The collection rate's summary of the recent days counted now, as the readings went in,
    rather than by the first operator to ask (at 200,000 meters that first answer would take
    half a minute and hold every other one behind its lock)."""
    last = spec.until - timedelta(days=1)
    first = spec.until - timedelta(days=spec.recent_days)
    async with session_factory(engine)() as session:
        await collection.refresh(session, first, last, ZoneInfo(settings.timezone))


DEMO_SIM_HISTORY_DAYS = 3  # the demo's simulated meters start this many days back
_LIVE = ("meter_id", "serial", "protocol", "address", "latitude", "longitude")


async def seed_history(
    engine: AsyncEngine,
    customer_numbers: Sequence[str],
    *,
    timezone: str = "Asia/Shanghai",
    until: date | None = None,
    seed_number: int = 1,
    months: int = 13,
) -> int:
    """A year of history for existing customers (the demo's): each gets the meter its current
    one replaced on ``until`` (default: when the demo's simulated meters start), with
    ``months`` of readings, consumption, charges and top-ups on the customer's account, so the
    charts, the tier and the trend have a year to show. The current meter's own chain starts
    fresh (chains never cross meters), so nothing is charged twice. Idempotent: a customer
    whose account already has ledger entries, or no active meter, is left alone. Returns the
    number of customers given a history."""
    tz = ZoneInfo(timezone)
    until = until or (datetime.now(tz) - timedelta(days=DEMO_SIM_HISTORY_DAYS)).date()
    schedules: dict[CustomerCategory, Schedule] | None = None
    done = 0
    for n, number in enumerate(customer_numbers):
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        Customer.id,
                        Customer.category,
                        Account.id,
                        Account.kind,
                        *(getattr(Meter, c) for c in _LIVE),
                    )
                    .join(Account, Account.customer_id == Customer.id)
                    .join(Meter, Meter.account_id == Account.id)
                    .where(Customer.number == number, Meter.status == MeterStatus.ACTIVE)
                    .order_by(Account.id, Meter.id)
                    .limit(1)
                )
            ).first()
            if row is None:
                continue
            cid, category, aid, kind, *_ = row
            live = dict(zip(_LIVE, row[4:], strict=True))
            posted = await conn.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.account_id == aid)
            )
            if posted:
                continue
            if schedules is None:
                await conn.rollback()
                schedules = await tariff_schedules(engine, until - timedelta(days=31 * months))
            spec = S.SeedSpec(accounts=len(customer_numbers), until=until, seed=seed_number,
                              months=months, timezone=timezone, prefix="DEMO")  # fmt: skip
            drawn = dataclasses.replace(
                S.customer(spec, n), category=CustomerCategory(category), kind=AccountKind(kind),
                protocol=live["protocol"] or "manual", arrears=False, silent_days=0, full=True,
            )  # fmt: skip
            old_pk = await _next_id(conn, Meter)
            ids = S.Ids(customer=cid - n, account=aid - n, meter=old_pk - n)
            _, counters = await _ids(conn)
            points = S.reading_points(spec, drawn)
            m = ledger.money(spec, ids, counters, drawn, points, schedules[drawn.category])
            installed = spec.history_start - timedelta(days=400)
            await insert_dicts(conn, "meters", [{
                "id": old_pk, "meter_id": f"{live['meter_id']}-old",
                "serial": f"{live['serial']}-OLD",
                "protocol": live["protocol"], "address": live["address"], "agent_id": None,
                "customer_id": cid, "account_id": aid, "status": MeterStatus.REMOVED.value,
                "installed_on": installed, "expires_on": installed + timedelta(days=8 * 365),
                "removed_at": spec.clock, "replaces_meter_id": None, "latitude": live["latitude"],
                "longitude": live["longitude"], "relay_control_mode": 2, "relay_state": None,
                "online": False, "last_seen_at": spec.clock, "created_at": spec.clock,
            }])  # fmt: skip
            await insert_rows(conn, "readings", S.READING_COLUMNS,
                              S.reading_rows(spec, ids, drawn, points))  # fmt: skip
            await insert_rows(conn, "consumption_daily", S.CONSUMPTION_COLUMNS,
                              S.consumption_rows(spec, ids, drawn, points))  # fmt: skip
            await insert_rows(conn, "ledger_entries", ledger.ENTRY_COLUMNS, m.entries)
            await insert_rows(conn, "charges", ledger.CHARGE_COLUMNS, m.charges)
            await insert_dicts(conn, "topups", m.topups)
            if m.state is not None:
                await conn.execute(delete(BillingState).where(BillingState.account_id == aid))
                await insert_dicts(conn, "billing_states", [m.state])
            await conn.execute(
                update(Account).where(Account.id == aid).values(balance_fen=m.balance_fen)
            )
            await _fix_sequences(conn)
            await conn.commit()
            done += 1
    return done


async def _fix_sequences(conn: AsyncConnection) -> None:
    """PostgreSQL: move the id sequences past the ids assigned here (SQLite needs nothing)."""
    if conn.dialect.name != "postgresql":
        return
    for table in SEQUENCED:  # names from the constant above: nothing to inject
        await conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
            f" (SELECT coalesce(max(id), 1) FROM {table}))"
        ))  # fmt: skip
