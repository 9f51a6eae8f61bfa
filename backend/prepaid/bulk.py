"""Set-based reads and writes of a billing round: many accounts, one statement per table.

``backend.prepaid.billing.bill_meters`` prices a round of accounts in Python between two
halves kept here: :func:`read` takes every account's lock and reads its category, billing
state, tariff terms and assignments, meters, chains and tier counters in a few queries, and
:func:`write` posts every new entry, charge, balance and billing state in bulk. The money rules
are billing's (one entry per account per round, the exact amount kept beside each charge, the
rounding remainder carried); this module only moves rows. Nothing here commits.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer, CustomerCategory
from backend.db import among
from backend.expansion.changes.history import CategoryMove, category_moves_of
from backend.metering.consumption import (
    CHAIN_QUALITIES,
    Point,
    Walk,
    chain,
    read_points,
    reading_day,
    recalled,
)
from backend.metering.models import ConsumptionDaily, Meter, Reading
from backend.prepaid.models import BillingState, Charge, LedgerEntry
from backend.tariffs.models import AccountTariffTerms, TariffAssignment
from backend.tariffs.rating import TierTerms

BASE_WINDOW_DAYS = 7  # a chain's baseline is looked for this far back in the round's query
READ_SPAN_MS = 2 * 86_400_000  # chains whose baselines lie this close share one readings query


@dataclass
class State:
    """An account's billing state as read (``billing_states``' columns)."""

    exact_total_cny: str = "0"
    posted_fen: int = 0
    billed_through_ms: int | None = None
    tier_counters: str | None = None  # JSON; None: not kept, summed from the live charges


@dataclass
class Held:
    """One account of the round, locked, with what pricing it needs."""

    id: int
    balance_fen: int
    cycle_start: date | None
    category: CustomerCategory
    state: State | None = None  # None: billed for the first time (a row is inserted)
    terms: TierTerms | None = None
    assignments: list[TariffAssignment] = field(default_factory=list)
    moves: list[CategoryMove] = field(default_factory=list)
    meters: list[int] = field(default_factory=list)
    last_live_start_ms: int | None = None  # the newest live charge's interval start


async def lock(session: AsyncSession, ids: Sequence[int]) -> dict[int, Held]:
    """Take the accounts' write locks in account order (as ``ledger.lock_account`` takes one:
    PostgreSQL row locks, SQLite the database write lock) and read them."""
    if not ids:
        return {}
    dialect = session.get_bind().dialect.name
    q = (
        select(Account.id, Account.balance_fen, Account.cycle_start, Customer.category)
        .join(Customer, Customer.id == Account.customer_id)
        .where(among(dialect, Account.id, ids))
        .order_by(Account.id)
    )
    if dialect == "sqlite":
        await session.execute(
            update(_ACCOUNTS)
            .where(among(dialect, _ACCOUNTS.c.id, ids))
            .values(balance_fen=_ACCOUNTS.c.balance_fen)
        )
    else:  # FOR NO KEY UPDATE: billing changes no key, so another transaction's foreign-key
        # check on these accounts (the sweep's upserts, a notice's insert: FOR KEY SHARE) does
        # not wait for it, nor it for them — with FOR UPDATE, a sweep holding such checks in
        # queue order and billing locking in id order deadlocked
        q = q.with_for_update(of=Account, key_share=True)
    rows = await session.execute(q)
    return {r.id: Held(r.id, r.balance_fen, r.cycle_start, r.category) for r in rows}


async def read(session: AsyncSession, held: dict[int, Held]) -> None:
    """Everything pricing needs of the held accounts, besides their chains: billing states,
    tier terms, tariff assignments, category changes, meters, and where their live charges
    end — one query each."""
    ids = sorted(held)
    if not ids:
        return
    dialect = session.get_bind().dialect.name
    b = BillingState
    for account_id, exact, posted, through, counters in await session.execute(
        select(
            b.account_id, b.exact_total_cny, b.posted_fen, b.billed_through_ms, b.tier_counters
        ).where(among(dialect, b.account_id, ids))
    ):
        held[account_id].state = State(exact, posted, through, counters)
    terms = select(
        AccountTariffTerms.account_id, AccountTariffTerms.household_extra_kwh_month,
        AccountTariffTerms.prorate_from,
    ).where(among(dialect, AccountTariffTerms.account_id, ids))  # fmt: skip
    for account_id, extra_kwh, prorate_from in await session.execute(terms):
        held[account_id].terms = TierTerms(extra_kwh * 1000, prorate_from)
    for a in await session.scalars(
        select(TariffAssignment)
        .where(among(dialect, TariffAssignment.account_id, ids))
        .order_by(TariffAssignment.effective_from)
    ):
        held[a.account_id].assignments.append(a)
    for account_id, moves in (await category_moves_of(session, ids)).items():
        held[account_id].moves = moves
    for pk, owner in await session.execute(
        select(Meter.id, Meter.account_id)
        .where(among(dialect, Meter.account_id, ids))
        .order_by(Meter.id)
    ):
        if owner is not None:
            held[owner].meters.append(pk)
    for account_id, start in await session.execute(last_live_starts(dialect, ids)):
        held[account_id].last_live_start_ms = start


def last_live_starts(dialect: str, ids: Sequence[int]) -> Select[int, int | None]:
    """Each account's newest live charge's start: one descent of its index an account (a
    correlated ``max``), not every live charge it ever had (a ``GROUP BY`` reads them all: 35,000
    a year for a meter read every quarter hour)."""
    newest = (
        select(func.max(Charge.start_ms))
        .where(Charge.account_id == Account.id, Charge.reversed_at.is_(None))
        .scalar_subquery()
    )
    return select(Account.id, newest).where(among(dialect, Account.id, ids))


RESTART_BOUNDS = 8  # distinct earliest readings a round looks restart points up for


async def restart_points(
    session: AsyncSession, before: dict[int, int], quantity: str
) -> dict[int, Point]:
    """Where each meter's chain can restart for a round (meter → its earliest new reading):
    the end of its account's last live charge of it before that reading — an accepted reading
    its chain passed through, with nothing new before it — and its register value. One query
    per distinct earliest reading (a round's meters share a few; past ``RESTART_BOUNDS`` the
    rest walk from their day's baseline), looking back ``READ_SPAN_MS``, and one for the
    values."""
    dialect = session.get_bind().dialect.name
    by_bound: dict[int, list[int]] = defaultdict(list)
    for pk, ts in before.items():
        by_bound[ts].append(pk)
    ends: dict[int, int] = {}
    for bound in sorted(by_bound)[:RESTART_BOUNDS]:
        for pk, end in await session.execute(last_live_ends(dialect, by_bound[bound], bound)):
            if end is not None:
                ends[pk] = end
    if not ends:
        return {}
    rows = await session.execute(
        select(Reading.meter_pk, Reading.ts, Reading.value).where(
            among(dialect, Reading.meter_pk, ends), Reading.quantity == quantity,
            among(dialect, Reading.ts, set(ends.values())), Reading.quality.in_(CHAIN_QUALITIES),
        )
    )  # fmt: skip
    return {pk: Point(ts, value) for pk, ts, value in rows if ends.get(pk) == ts}


def last_live_ends(dialect: str, pks: Sequence[int], bound: int) -> Select[int, int | None]:
    """Each meter's last live charge of its account that ends before ``bound``, within
    ``READ_SPAN_MS`` (its end: an accepted reading of the chain, with nothing new before it):
    read backwards along the account's live charges from ``bound``, one row or a few a meter,
    not every charge of the span (a meter's charges by start, grouped, read them all)."""
    c = Charge
    end = (
        select(c.end_ms)
        .where(
            c.account_id == Meter.account_id, c.reversed_at.is_(None),
            c.start_ms < bound, c.start_ms >= bound - READ_SPAN_MS,
            c.meter_pk == Meter.id, c.end_ms < bound,
        )
        .order_by(c.start_ms.desc())
        .limit(1)
        .scalar_subquery()
    )  # fmt: skip
    return select(Meter.id, end).where(among(dialect, Meter.id, pks))


async def walks(
    session: AsyncSession,
    since: dict[int, int | None],
    quantity: str,
    tz: ZoneInfo,
    starts: dict[int, Point] | None = None,
    *,
    until: dict[int, int] | None = None,
) -> dict[int, tuple[Point | None, Walk]]:
    """``consumption.walk_from`` of many meters (meter → its ``ts``, None: from the first
    reading): each chain from the baseline consumption materialised before ``ts``'s local day
    — or, for a meter in ``starts``, from that point of its chain (a walk restarts at any
    accepted point: the chain carries nothing else), so only the readings after it are read;
    a meter in ``until`` up to its instant there, no further.
    The baselines in one query (a chain silent longer than ``BASE_WINDOW_DAYS`` in one of its
    own), the readings in one query per ``READ_SPAN_MS`` of baselines."""
    d = ConsumptionDaily
    starts = starts or {}
    day_of = {
        pk: reading_day(ts, tz) for pk, ts in since.items() if ts is not None and pk not in starts
    }
    bases: dict[int, Point | None] = dict.fromkeys(since)
    bases.update({pk: point for pk, point in starts.items() if pk in bases})
    if day_of:
        lo = min(day_of.values()) - timedelta(days=BASE_WINDOW_DAYS)
        rows = await session.execute(
            select(d.meter_pk, d.day, d.last_ts, d.last_value)
            .where(
                among(session.get_bind().dialect.name, d.meter_pk, day_of),
                d.quantity == quantity,
                d.day >= lo, d.day < max(day_of.values()),
            )
            .order_by(d.day)
        )  # fmt: skip
        for pk, day, last_ts, last_value in rows:
            if day < day_of[pk]:
                bases[pk] = Point(last_ts, last_value)
        for pk in sorted(pk for pk in day_of if bases[pk] is None):
            row = (
                await session.execute(
                    select(d.last_ts, d.last_value)
                    .where(d.meter_pk == pk, d.quantity == quantity, d.day < day_of[pk])
                    .order_by(d.day.desc())
                    .limit(1)
                )
            ).first()
            bases[pk] = Point(row[0], row[1]) if row else None
    after = {pk: base.ts if base is not None else -1 for pk, base in bases.items()}
    bound = {pk: ts for pk, ts in (until or {}).items() if pk in after}
    # the chains consumption has just read in this round, from their base or earlier
    points = {
        m: _upto(found, bound.get(m))
        for (m, _), found in recalled({(m, quantity): after[m] for m in after}).items()
    }
    group: list[int] = []  # every other meter lands in exactly one group
    for pk in [*sorted((m for m in after if m not in points), key=lambda m: (after[m], m)), -1]:
        if group and (pk == -1 or after[pk] - after[group[0]] > READ_SPAN_MS):
            found = await read_points(
                session, {(m, quantity): after[m] for m in group},
                {(m, quantity): bound[m] for m in group if m in bound},
            )  # fmt: skip
            points.update({m: found[(m, quantity)] for m in group})
            group = []
        if pk != -1:
            group.append(pk)
    return {pk: (bases[pk], chain(bases[pk], points[pk])) for pk in since}


def _upto(points: list[Point], until: int | None) -> list[Point]:
    """The points at or before ``until`` (None: all)."""
    if until is None:
        return points
    return points[: bisect.bisect_right(points, until, key=itemgetter(0))]


@dataclass(frozen=True)
class LiveCharge:
    """A live charge in an account's re-rated stretch (``charges``' columns)."""

    id: int
    meter_pk: int
    start_ms: int
    end_ms: int
    wh: int
    lines: str
    entry_id: int


async def stretches(session: AsyncSession, from_ms: dict[int, int]) -> dict[int, list[LiveCharge]]:
    """The live charges of each account (account → from) that start at or after its from, in
    time order: one query for accounts whose starts lie within ``READ_SPAN_MS``."""
    out: dict[int, list[LiveCharge]] = defaultdict(list)
    dialect = session.get_bind().dialect.name
    group: list[int] = []
    for account_id in [*sorted(from_ms, key=lambda a: (from_ms[a], a)), -1]:
        if group and (account_id == -1 or from_ms[account_id] - from_ms[group[0]] > READ_SPAN_MS):
            c = Charge
            rows = await session.execute(
                select(c.account_id, c.id, c.meter_pk, c.start_ms, c.end_ms, c.wh, c.lines,
                       c.entry_id)
                .where(
                    among(dialect, c.account_id, group), c.reversed_at.is_(None),
                    c.start_ms >= from_ms[group[0]],
                )
                .order_by(c.start_ms)
            )  # fmt: skip
            for owner, pk, meter_pk, start, end, wh, lines, entry_id in rows:
                if start >= from_ms[owner]:
                    out[owner].append(LiveCharge(pk, meter_pk, start, end, wh, lines, entry_id))
            group = []
        if account_id != -1:
            group.append(account_id)
    return out


async def live_lines(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[str]]:
    """The lines of every live charge of these accounts (their tier counters' source)."""
    out: dict[int, list[str]] = defaultdict(list)
    if ids:
        for account_id, lines in await session.execute(
            select(Charge.account_id, Charge.lines).where(
                among(session.get_bind().dialect.name, Charge.account_id, ids),
                Charge.reversed_at.is_(None),
            )
        ):
            out[account_id].append(lines)
    return out


@dataclass
class Posting:
    """One account's round, priced: the entry, its charges, the billing state after it."""

    account_id: int
    amount_fen: int
    balance_after_fen: int
    entry: dict[str, Any]  # the ledger entry's columns but account, amounts and balance
    charges: list[tuple[Any, ...]]  # each charge's CHARGE_FIELDS
    state: dict[str, Any]  # billing_states' columns but account_id
    new_state: bool


_ACCOUNTS: Table = Account.__table__  # type: ignore[assignment]
_STATES: Table = BillingState.__table__  # type: ignore[assignment]
_ENTRIES: Table = LedgerEntry.__table__  # type: ignore[assignment]
_CHARGES: Table = Charge.__table__  # type: ignore[assignment]
_SPEND = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("k_id"))
    .values(balance_fen=_ACCOUNTS.c.balance_fen + bindparam("delta"))
)
# a posting's charge: what differs from one charge of the entry to the next
CHARGE_FIELDS = ("meter_pk", "start_ms", "end_ms", "wh", "exact_cny", "lines")
CHARGE_COLUMNS = ("account_id", *CHARGE_FIELDS, "created_at", "entry_id")
_STATE_COLUMNS = ("exact_total_cny", "posted_fen", "billed_through_ms", "tier_counters",
                  "updated_at")  # fmt: skip
_KEEP_STATE = (
    update(_STATES)
    .where(_STATES.c.account_id == bindparam("k_account_id"))
    .values({c: bindparam(c) for c in _STATE_COLUMNS})
)


async def write(session: AsyncSession, postings: Sequence[Posting]) -> None:
    """Post the round: the entries (one insert, their ids returned in order), the balances
    (one executemany), the charges (one driver call: :func:`_insert_charges`) and the billing
    states (one update, one insert for accounts billed the first time)."""
    entries = [p for p in postings if p.entry]
    if entries:
        rows = [
            {**p.entry, "account_id": p.account_id, "amount_fen": p.amount_fen,
             "balance_after_fen": p.balance_after_fen, "reverses_id": None}
            for p in entries
        ]  # fmt: skip
        # one entry per account: its id by account (asking for them in parameter order would
        # cost SQLite one INSERT per row)
        returning = insert(_ENTRIES).returning(_ENTRIES.c.account_id, _ENTRIES.c.id)
        id_of = {a: i for a, i in await session.execute(returning, rows)}
        assert len(id_of) == len(entries), "one entry per account and round"
        spent = [{"k_id": p.account_id, "delta": p.amount_fen} for p in entries if p.amount_fen]
        if spent:
            await session.execute(_SPEND, spent)
        await _insert_charges(
            session,
            [
                (p.account_id, p.charges, p.entry["created_at"], id_of[p.account_id])
                for p in entries
            ],
        )
    kept = [{"k_account_id": p.account_id, **p.state} for p in postings if not p.new_state]
    if kept:
        await session.execute(_KEEP_STATE, kept)
    new = [{"account_id": p.account_id, **p.state} for p in postings if p.new_state]
    if new:
        await session.execute(insert(_STATES), new)


async def _insert_charges(
    session: AsyncSession, entries: Sequence[tuple[int, Sequence[tuple[Any, ...]], Any, int]]
) -> None:
    """Insert the charges of each (account, its charges' ``CHARGE_FIELDS``, their created_at,
    entry id) as plain tuples in one driver call, in the round's transaction: ``COPY`` on
    PostgreSQL (asyncpg's ``copy_records_to_table``), one ``executemany`` on SQLite. A round's
    thousands of charge rows were its costliest write through SQLAlchemy (a parameter set each,
    every value through its type; on PostgreSQL one statement execution per row). The fields
    are plain ints and strings, stored as they are; the clock goes through its column type's
    bind processing, as SQLAlchemy would store it, once per distinct value."""
    if not entries:
        return
    conn = await session.connection()
    dialect = conn.dialect
    created_at = _CHARGES.c["created_at"].type.dialect_impl(dialect).bind_processor(dialect)
    clocks: dict[Any, Any] = {}
    rows = []
    for account_id, charges, at, entry_id in entries:
        if at not in clocks:
            clocks[at] = created_at(at) if created_at is not None else at
        clock = clocks[at]
        rows += [(account_id, *c, clock, entry_id) for c in charges]
    if not rows:
        return
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    if dialect.name == "postgresql":
        await raw.copy_records_to_table("charges", records=rows, columns=list(CHARGE_COLUMNS))
    else:
        marks = ", ".join("?" * len(CHARGE_COLUMNS))
        sql = f"INSERT INTO charges ({', '.join(CHARGE_COLUMNS)}) VALUES ({marks})"  # noqa: S608
        await raw.executemany(sql, rows)
