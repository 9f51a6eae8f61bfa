"""Consumption from cumulative energy registers: intervals, materialised days, anomalies.

The ingestion hook
------------------
Ingestion calls, after each committed batch::

    await on_readings_committed(engine_or_session_factory_or_session, affected, timezone=tz)

where ``affected`` is an iterable of ``(meter_pk, quantity, min_ts, max_ts)`` (epoch ms) for the
readings just committed. Non-cumulative quantities are ignored. The whole batch is applied in
one transaction: a chain whose new readings all come after what it has seen (the usual case) is
*appended* — its newest day row is extended, in bulk with the other appends, without re-reading
the day — and any other chain is *recomputed* from the local day of ``min_ts`` forwards until
the result agrees with what was stored before (a late reading can change later days: see
docs/consumption.md). The call is idempotent: a duplicate or replayed batch changes nothing.

The rules (pure functions, below)
---------------------------------
* A *chain* is one meter's readings of one register, in time order, of quality good or
  backfilled. Chains never cross meters: a replacement meter starts its own.
* Each pair of consecutive accepted readings is an *interval*; its energy is the difference.
* A drop is a *rollover* when the previous value is within the top 10 % of a known register
  modulus and the new one within the bottom 10 % (DL/T 645 ``999999.99 kWh`` wraps at 10^9 Wh,
  a 32-bit Wh counter at 2^32): the energy is ``modulus - previous + new``.
* Any other drop is an *anomaly*: the reading is refused (stored in consumption_anomalies, never
  charged) and the chain continues from the last accepted reading, so a glitch is not counted
  twice. A meter that was really reset must be registered as a new meter.
* An interval belongs to the local day (``timezone``) in which it ends; a reading at exactly local
  midnight closes the previous day, like a meter's daily frozen value (日冻结).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from datetime import timedelta
from operator import itemgetter
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, and_, bindparam, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.db import among
from backend.metering.consumption_rules import (
    ROLLOVER_MARGIN,
    ROLLOVER_MODULI,
    Anomaly,
    DayRow,
    Interval,
    Point,
    Walk,
    chain,
    day_start_ms,
    days_of,
    reading_day,
    rollover_modulus,
)
from backend.metering.intervals import ACCEPTED_QUALITIES, new_tuple
from backend.metering.models import ConsumptionAnomaly, ConsumptionDaily, Reading
from backend.types import utcnow
from protocols.contract import ENERGY_QUANTITIES

__all__ = [
    "CHAIN_QUALITIES", "CUMULATIVE", "ROLLOVER_MARGIN", "ROLLOVER_MODULI", "Anomaly", "DayRow",
    "Interval", "Point", "Walk", "chain", "chain_readings", "day_start_ms", "days_of",
    "load_points", "on_readings_committed", "read_points", "reading_day", "rebuild",
    "recalled", "recompute_chain", "rollover_modulus", "round_points", "walk_from",
]  # fmt: skip

log = logging.getLogger("meterline.consumption")

CUMULATIVE: frozenset[str] = frozenset(q.value for q in ENERGY_QUANTITIES)
CHAIN_QUALITIES = ACCEPTED_QUALITIES  # the same readings billing charges for
DAY_MS = 86_400_000
APPEND_WINDOW_DAYS = 7  # a chain silent longer than this is recomputed, not appended to

Chain = tuple[int, str]


class Affected(NamedTuple):
    meter_pk: int
    quantity: str
    min_ts: int
    max_ts: int


async def _base_before(
    session: AsyncSession, meter_pk: int, quantity: str, day: Any
) -> Point | None:
    row = (
        await session.execute(
            select(ConsumptionDaily.last_ts, ConsumptionDaily.last_value)
            .where(
                ConsumptionDaily.meter_pk == meter_pk,
                ConsumptionDaily.quantity == quantity,
                ConsumptionDaily.day < day,
            )
            .order_by(ConsumptionDaily.day.desc())
            .limit(1)
        )
    ).first()
    return Point(row[0], row[1]) if row else None


async def load_points(
    session: AsyncSession, meter_pk: int, quantity: str, after_ts: int, until_ts: int | None
) -> list[Point]:
    q = select(Reading.ts, Reading.value).where(
        Reading.meter_pk == meter_pk,
        Reading.quantity == quantity,
        Reading.ts > after_ts,
        Reading.quality.in_(CHAIN_QUALITIES),
    )
    if until_ts is not None:
        q = q.where(Reading.ts <= until_ts)
    return [Point(ts, v) for ts, v in (await session.execute(q.order_by(Reading.ts))).all()]


async def walk_from(
    session: AsyncSession, meter_pk: int, quantity: str, ts: int | None, tz: ZoneInfo
) -> tuple[Point | None, Walk]:
    """The chain of a register from the baseline materialised before ``ts``'s local day (from
    its first reading when there is none, or when ``ts`` is None) through its newest reading:
    billing derives its intervals here, so it charges exactly what consumption counts. The
    derived-data path runs consumption before billing, so the baseline is current."""
    base = None
    if ts is not None:
        base = await _base_before(session, meter_pk, quantity, reading_day(ts, tz))
    points = await load_points(session, meter_pk, quantity, base.ts if base else -1, None)
    return base, chain(base, points)


async def _first_ts(
    session: AsyncSession, meter_pk: int, quantity: str, *, after: int = -1
) -> int | None:
    return await session.scalar(
        select(func.min(Reading.ts)).where(
            Reading.meter_pk == meter_pk,
            Reading.quantity == quantity,
            Reading.ts > after,
            Reading.quality.in_(CHAIN_QUALITIES),
        )
    )


async def _lock_chains(session: AsyncSession, chains: list[Chain]) -> None:
    """Serialise work on the same chains across ingest processes, in one round trip and in a
    fixed order (PostgreSQL; SQLite has a single writer anyway)."""
    if session.get_bind().dialect.name != "postgresql" or not chains:
        return
    await session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(m, hashtext(q))) FROM ("
            " SELECT unnest(CAST(:ms AS integer[])) AS m, unnest(CAST(:qs AS text[])) AS q"
            " ORDER BY 1, 2) AS k"
        ),
        {"ms": [m for m, _ in chains], "qs": [q for _, q in chains]},
    )


def _row(meter_pk: int, quantity: str, r: DayRow, now: Any) -> dict[str, Any]:
    return {
        "meter_pk": meter_pk, "quantity": quantity, "day": r.day, "wh": r.wh,
        "first_ts": r.first.ts, "last_ts": r.last.ts, "first_value": r.first.value,
        "last_value": r.last.value, "through_ts": r.through, "intervals": r.intervals,
        "rollovers": r.rollovers, "anomalies": r.anomalies, "computed_at": now,
    }  # fmt: skip


def _anomaly(meter_pk: int, quantity: str, a: Anomaly, now: Any) -> dict[str, Any]:
    return {
        "meter_pk": meter_pk, "quantity": quantity, "kind": a.kind, "ts": a.reading.ts,
        "value": a.reading.value, "previous_ts": a.baseline.ts,
        "previous_value": a.baseline.value, "detected_at": now,
    }  # fmt: skip


async def recompute_chain(
    session: AsyncSession, meter_pk: int, quantity: str, min_ts: int, max_ts: int, tz: ZoneInfo
) -> int:
    """Recompute the days touched by readings in [min_ts, max_ts]; return the days rewritten.
    Runs in the caller's transaction (the caller commits)."""
    await _lock_chains(session, [(meter_pk, quantity)])
    first_day = reading_day(min_ts, tz)
    base = await _base_before(session, meter_pk, quantity, first_day)
    if base is None:  # nothing materialised before: start from the chain's first reading
        earliest = await _first_ts(session, meter_pk, quantity)
        if earliest is None:
            return 0
        first_day = min(first_day, reading_day(earliest, tz))
    nxt = await _first_ts(session, meter_pk, quantity, after=max_ts)
    last_day = reading_day(max(max_ts, nxt or max_ts), tz)
    key = and_(ConsumptionDaily.meter_pk == meter_pk, ConsumptionDaily.quantity == quantity)
    rewritten = 0
    while True:
        start, end = day_start_ms(first_day, tz), day_start_ms(last_day + timedelta(days=1), tz)
        points = await load_points(session, meter_pk, quantity, start, end)
        intervals, anomalies, first = chain(base, points)
        rows = days_of(first, intervals, anomalies, tz)
        old_end = (
            await session.execute(
                select(ConsumptionDaily.last_ts, ConsumptionDaily.last_value)
                .where(key, ConsumptionDaily.day <= last_day)
                .order_by(ConsumptionDaily.day.desc())
                .limit(1)
            )
        ).first()
        await session.execute(
            delete(ConsumptionDaily).where(key, ConsumptionDaily.day.between(first_day, last_day))
        )
        await session.execute(
            delete(ConsumptionAnomaly).where(
                ConsumptionAnomaly.meter_pk == meter_pk,
                ConsumptionAnomaly.quantity == quantity,
                ConsumptionAnomaly.ts > start,
                ConsumptionAnomaly.ts <= end,
            )
        )
        now = utcnow()
        if rows:
            await session.execute(
                insert(ConsumptionDaily), [_row(meter_pk, quantity, r, now) for r in rows]
            )
        if anomalies:
            await session.execute(
                insert(ConsumptionAnomaly),
                [_anomaly(meter_pk, quantity, a, now) for a in anomalies],
            )
        rewritten += len(rows)
        new_end = rows[-1].last if rows else base
        if old_end is not None and new_end is not None and tuple(old_end) == tuple(new_end):
            return rewritten  # later days start from the same baseline: they stand
        later = await _first_ts(session, meter_pk, quantity, after=end)
        if later is None:
            return rewritten
        # the baseline changed: carry on with the following days until it agrees again
        base, first_day = new_end, last_day + timedelta(days=1)
        last_day = max(first_day, reading_day(later, tz))


async def _apply(session: AsyncSession, chains: dict[Chain, tuple[int, int]], tz: ZoneInfo) -> int:
    """One batch in the caller's transaction: appends in bulk, the other chains recomputed."""
    keys = sorted(chains)
    await _lock_chains(session, keys)
    d = ConsumptionDaily
    since = reading_day(min(lo for lo, _ in chains.values()), tz) - timedelta(
        days=APPEND_WINDOW_DAYS
    )
    pks = sorted({m for m, _ in keys})
    newest = (
        select(d.meter_pk, d.quantity, func.max(d.day).label("day"))
        .where(among(session.get_bind().dialect.name, d.meter_pk, pks), d.day >= since)
        .group_by(d.meter_pk, d.quantity)
        .subquery()
    )
    table = _DAILY
    latest = {
        (r.meter_pk, r.quantity): r  # plain rows: no ORM objects to build and synchronise
        for r in await session.execute(
            select(table).join(
                newest,
                and_(
                    table.c.meter_pk == newest.c.meter_pk,
                    table.c.quantity == newest.c.quantity,
                    table.c.day == newest.c.day,
                ),
            )
        )
    }
    # an append: every new reading comes after everything this chain has seen. Its readings
    # are read up to the last one announced: one committed since is announced to the next
    # round, which appends it in turn; read now, it would be behind that round's announcement,
    # and a steady stream would recompute every chain's day from its baseline every round
    appends = {k: latest[k] for k in keys if k in latest and chains[k][0] > latest[k].through_ts}
    total = 0
    if appends:
        points = await read_points(
            session,
            {k: r.through_ts for k, r in appends.items()},
            {k: chains[k][1] for k in appends},
        )
        now = utcnow()
        updates: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for (m, q), row in appends.items():
            intervals, anomalies, _ = chain(Point(row.last_ts, row.last_value), points[(m, q)])
            for r in days_of(None, intervals, anomalies, tz):
                if r.day == row.day:  # extend the newest day
                    updates.append({
                        "k_meter_pk": m, "k_quantity": q, "k_day": r.day, "wh": row.wh + r.wh,
                        "last_ts": r.last.ts, "last_value": r.last.value,
                        "through_ts": r.through, "intervals": row.intervals + r.intervals,
                        "rollovers": row.rollovers + r.rollovers,
                        "anomalies": row.anomalies + r.anomalies, "computed_at": now,
                    })  # fmt: skip
                else:
                    inserts.append(_row(m, q, r, now))
            refused += [_anomaly(m, q, a, now) for a in anomalies]
        if updates:
            await session.execute(_EXTEND_DAY, updates)
        if inserts:
            await session.execute(insert(ConsumptionDaily), inserts)
        if refused:
            await session.execute(insert(ConsumptionAnomaly), refused)
        total += len(updates) + len(inserts)
    return total + await _not_appended(
        session, {k: v for k, v in chains.items() if k not in appends}, tz
    )


async def _not_appended(
    session: AsyncSession, chains: dict[Chain, tuple[int, int]], tz: ZoneInfo
) -> int:
    """Chains seen for the first time, all at once; the others recomputed one by one."""
    fresh = await _fresh(session, sorted(chains))
    # up to the last reading announced, as an append: one committed since is announced to the
    # next round, which then appends it (read now, every later round of a backlog would find
    # its readings behind what is materialised and recompute the chain's days)
    total = await _first_days(session, fresh, tz, {k: chains[k][1] for k in fresh}) if fresh else 0
    rest = {k: v for k, v in chains.items() if k not in fresh}
    done, recent = await _recompute_recent(session, rest, tz) if rest else (0, set())
    total += done
    for m, q in sorted(rest):
        if (m, q) not in recent:
            total += await recompute_chain(session, m, q, *rest[(m, q)], tz)
    return total


async def _recompute_recent(
    session: AsyncSession, chains: dict[Chain, tuple[int, int]], tz: ZoneInfo
) -> tuple[int, set[Chain]]:
    """Recompute, all at once, the chains whose earliest new reading falls within
    ``APPEND_WINDOW_DAYS`` of their baseline and of their newest day (late readings of many
    meters, or announcements overlapping what is materialised): every day from the local day
    of the earliest new reading onwards is rewritten from the baseline before it — what
    :func:`recompute_chain` computes, there stopping once the baseline agrees again. Returns
    the day rows written and the chains done; the others are left to
    :func:`recompute_chain`."""
    d = ConsumptionDaily
    first_day = {k: reading_day(lo, tz) for k, (lo, _) in chains.items()}
    window = timedelta(days=APPEND_WINDOW_DAYS)
    bases: dict[Chain, tuple[Any, Point]] = {}
    newest: dict[Chain, Any] = {}
    seen_through: dict[Chain, int] = {}  # the newest day's end: what the chain had seen
    dialect = session.get_bind().dialect.name
    rows = await session.execute(
        select(d.meter_pk, d.quantity, d.day, d.last_ts, d.last_value, d.through_ts)
        .where(
            among(dialect, d.meter_pk, {m for m, _ in chains}),
            d.quantity.in_(sorted({q for _, q in chains})),
            d.day >= min(first_day.values()) - window,
        )
        .order_by(d.day)
    )
    for m, q, day, last_ts, last_value, through_ts in rows:
        key = (m, q)
        if key in chains:
            newest[key] = day
            seen_through[key] = max(last_ts, through_ts)
            if first_day[key] - window <= day < first_day[key]:
                bases[key] = (day, Point(last_ts, last_value))
    recent = {k for k in bases if newest[k] - first_day[k] <= window}
    # no baseline before: from the chain's first reading, when its days are few
    spans = await session.execute(
        select(d.meter_pk, d.quantity, func.min(d.day), func.max(d.day))
        .where(
            among(dialect, d.meter_pk, {m for m, _ in chains}),
            d.quantity.in_(sorted({q for _, q in chains})),
        )
        .group_by(d.meter_pk, d.quantity)
    )
    restart = {
        (m, q)
        for m, q, lo, hi in spans
        if (m, q) in chains and (m, q) not in bases and lo >= first_day[(m, q)]
        and hi - lo <= window
    }  # fmt: skip
    # those, and the recent ones below, up to what the chain had seen or the last reading
    # announced, whichever is later: their days stay whole, and a reading committed since is
    # appended by the round it is announced to
    until = {k: max(chains[k][1], seen_through[k]) for k in recent | restart}
    total = await _first_days(session, restart, tz, until) if restart else 0
    if not recent:
        return total, restart
    start = {k: day_start_ms(first_day[k], tz) for k in recent}
    points = await read_points(session, start, {k: until[k] for k in recent})
    now = utcnow()
    days: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for m, q in sorted(recent):
        intervals, anomalies, _ = chain(bases[(m, q)][1], points[(m, q)])
        days += [_row(m, q, r, now) for r in days_of(None, intervals, anomalies, tz)]
        refused += [_anomaly(m, q, a, now) for a in anomalies]
    keys = [
        {"k_meter_pk": m, "k_quantity": q, "k_day": first_day[(m, q)], "k_ts": start[(m, q)]}
        for m, q in sorted(recent)
    ]
    await session.execute(_DROP_DAYS_FROM, keys)
    await session.execute(_DROP_ANOMALIES_AFTER, keys)
    if days:
        await session.execute(insert(ConsumptionDaily), days)
    if refused:
        await session.execute(insert(ConsumptionAnomaly), refused)
    return total + len(days), recent | restart


async def _fresh(session: AsyncSession, keys: list[Chain]) -> set[Chain]:
    """The chains with no day materialised yet (a meter's first readings)."""
    if not keys:
        return set()
    d = ConsumptionDaily
    seen = await session.execute(
        select(d.meter_pk, d.quantity)
        .where(
            among(session.get_bind().dialect.name, d.meter_pk, {m for m, _ in keys}),
            d.quantity.in_({q for _, q in keys}),
        )
        .distinct()
    )
    return set(keys) - {(m, q) for m, q in seen}


async def _first_days(
    session: AsyncSession, fresh: set[Chain], tz: ZoneInfo, until: dict[Chain, int] | None = None
) -> int:
    """Materialise chains from their first reading, all at once (chains with no day yet, or
    only a few days and none before the new readings): what :func:`recompute_chain` does for
    each from its first reading (every reading, no baseline), in a few statements; a chain in
    ``until`` up to its instant there."""
    points = await read_points(session, dict.fromkeys(fresh, _BEFORE_ALL), until)
    dialect = session.get_bind().dialect.name
    for quantity in sorted({q for _, q in fresh}):  # nothing of theirs stands
        for table in (ConsumptionDaily, ConsumptionAnomaly):
            await session.execute(
                delete(table).where(
                    among(dialect, table.meter_pk, {m for m, q in fresh if q == quantity}),
                    table.quantity == quantity,
                )
            )
    now = utcnow()
    days: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for (m, q), chain_points in sorted(points.items()):
        intervals, anomalies, first = chain(None, chain_points)
        days += [_row(m, q, r, now) for r in days_of(first, intervals, anomalies, tz)]
        refused += [_anomaly(m, q, a, now) for a in anomalies]
    if days:
        await session.execute(insert(ConsumptionDaily), days)
    if refused:
        await session.execute(insert(ConsumptionAnomaly), refused)
    return len(days)


# many chains' readings in the primary key's order: each chain's rows together and in time
# order, read along the key (in time order across chains SQLite sorted every row in a
# temporary B-tree, or walked the ``ts`` index and looked each row up) and grouped without a
# dictionary lookup a row (``points_after``)
CHAIN_ORDER: Final = (Reading.meter_pk, Reading.quantity, Reading.ts)
_BEFORE_ALL: Final = -(2**63)  # earlier than any reading
_AFTER_ALL: Final = 2**63 - 1  # later than any reading


def chain_readings(
    dialect: str, after: dict[Chain, int], until: int | None = None
) -> Select[int, str, int, int]:
    """The accepted readings ``(meter_pk, quantity, ts, value)`` of these chains later than
    the earliest of their instants (and not later than ``until``), in ``CHAIN_ORDER``
    (``points_after`` leaves out those of a chain before its own)."""
    since = min(after.values())
    return (
        select(Reading.meter_pk, Reading.quantity, Reading.ts, Reading.value)
        .where(
            among(dialect, Reading.meter_pk, {m for m, _ in after}),
            Reading.quantity.in_(sorted({q for _, q in after})),
            *([Reading.ts > since] if since > _BEFORE_ALL else []),
            *([Reading.ts <= until] if until is not None else []),
            Reading.quality.in_(CHAIN_QUALITIES),
        )
        .order_by(*CHAIN_ORDER)
    )


# A derived-data round's chains as consumption read them — chain → (the instant they were
# read after, the points) — for what follows it in the same round: billing walks the chains
# consumption has just read (``recalled``) instead of reading them again. A reading committed
# after consumption's read, or after the last one announced to the round (an appended chain is
# read up to there), is announced to the next round and followed by it, as one committed
# after any read is.
_ROUND: ContextVar[dict[Chain, tuple[int, list[Point]]] | None] = ContextVar(
    "consumption_round", default=None
)


_LATER: ContextVar[Callable[[Chain], bool] | None] = ContextVar("consumption_later", default=None)


@contextlib.contextmanager
def round_points(later: Callable[[Chain], bool] | None = None) -> Iterator[None]:
    """Keep, until the block ends, the chains this task's ``read_points`` read. ``later``:
    whether a later round will follow a chain (the derived-data path: queued again), which
    lets billing stop this one at its announcement (``bounded``).

    The points are let go when the block ends, also by a context copied during it: asyncpg
    schedules each statement it prepares to expire from its cache in five minutes, and the
    timer keeps the context it was scheduled in, so a round's points (tens of thousands of
    them under a steady stream) outlived it by minutes, dozens of rounds at once."""
    kept: dict[Chain, tuple[int, list[Point]]] = {}
    token, later_token = _ROUND.set(kept), _LATER.set(later)
    try:
        yield
    finally:
        kept.clear()
        _ROUND.reset(token)
        _LATER.reset(later_token)


def bounded(until: dict[Chain, int]) -> dict[Chain, int]:
    """The bounds of ``until`` billing may keep when it reads a chain itself: up to its last
    announced reading only when a later round will follow the chain (``round_points``'s
    ``later``), which then reads on from where this one stopped — in a backlog, read now,
    those readings would lie behind that round's announcement and it would compare the
    account's charges. Otherwise to the last reading committed: a late reading filling a gap
    closes the interval to the reading after it, committed and followed before and never
    announced again. (Consumption needs no such rule: it reads a chain up to what its days
    have seen or the announcement, whichever is later.)"""
    later = _LATER.get()
    if later is None:
        return {}
    return {k: ts for k, ts in until.items() if later(k)}


def recalled(after: dict[Chain, int]) -> dict[Chain, list[Point]]:
    """The points later than its instant of each chain of ``after`` that this round has
    already read from that instant or earlier (``round_points``); the others are left out."""
    kept = _ROUND.get()
    if not kept:
        return {}
    out: dict[Chain, list[Point]] = {}
    for key, since in after.items():
        got = kept.get(key)
        if got is not None and got[0] <= since:
            points = got[1]
            out[key] = points[bisect.bisect_right(points, since, key=itemgetter(0)) :]
    return out


async def read_points(
    session: AsyncSession, after: dict[Chain, int], until: dict[Chain, int] | None = None
) -> dict[Chain, list[Point]]:
    """Each chain's accepted readings later than its instant (``_BEFORE_ALL``: all of them)
    and, for a chain in ``until``, not later than its bound there; inside ``round_points``,
    kept for the rest of the round."""
    dialect = session.get_bind().dialect.name
    top = max(until.values()) if until else None
    points = points_after(await session.execute(chain_readings(dialect, after, top)), after, until)
    kept = _ROUND.get()
    if kept is not None:
        for key, since in after.items():
            kept[key] = (since, points[key])  # (a chain with no rows: an empty list)
    return points


def points_after(
    rows: Iterable[Sequence[Any]], after: dict[Chain, int], until: dict[Chain, int] | None = None
) -> dict[Chain, list[Point]]:
    """The readings of each chain of ``after`` later than its instant (UTC epoch ms) and not
    later than its bound in ``until`` (if it has one), from rows ``(meter_pk, quantity, ts,
    value)`` in ``CHAIN_ORDER``; rows of other chains are skipped."""
    points: dict[Chain, list[Point]] = defaultdict(list)
    bounds = until or {}
    key: Chain | None = None
    into: list[Point] | None = None
    since, upto = _BEFORE_ALL, _AFTER_ALL
    for m, q, ts, value in rows:
        if key is None or m != key[0] or q != key[1]:
            key = (m, q)
            into = points[key] if key in after else None
            since, upto = after.get(key, _BEFORE_ALL), bounds.get(key, _AFTER_ALL)
        if into is not None and since < ts <= upto:
            into.append(new_tuple(Point, (ts, value)))
    return points


_DAILY: Table = ConsumptionDaily.__table__  # type: ignore[assignment]
_EXTENDED = ("wh", "last_ts", "last_value", "through_ts", "intervals", "rollovers", "anomalies",
             "computed_at")  # fmt: skip
# extend the newest day of many chains at once (executemany), keyed by the primary key
_EXTEND_DAY = (
    update(_DAILY)
    .where(
        _DAILY.c.meter_pk == bindparam("k_meter_pk"),
        _DAILY.c.quantity == bindparam("k_quantity"),
        _DAILY.c.day == bindparam("k_day"),
    )
    .values({c: bindparam(c) for c in _EXTENDED})
)

_ANOMALIES: Table = ConsumptionAnomaly.__table__  # type: ignore[assignment]
# a chain's days from a local day on, and its refused readings after an instant (executemany)
_DROP_DAYS_FROM = delete(_DAILY).where(
    _DAILY.c.meter_pk == bindparam("k_meter_pk"),
    _DAILY.c.quantity == bindparam("k_quantity"),
    _DAILY.c.day >= bindparam("k_day"),
)
_DROP_ANOMALIES_AFTER = delete(_ANOMALIES).where(
    _ANOMALIES.c.meter_pk == bindparam("k_meter_pk"),
    _ANOMALIES.c.quantity == bindparam("k_quantity"),
    _ANOMALIES.c.ts > bindparam("k_ts"),
)

SessionSource = AsyncEngine | async_sessionmaker[AsyncSession] | AsyncSession


async def on_readings_committed(
    target: SessionSource,
    affected: Iterable[tuple[int, str, int, int]],
    *,
    timezone: str = "Asia/Shanghai",
) -> int:
    """Ingestion's hook (see the module doc). Returns the number of day rows written.

    With a session, everything runs in it and it is committed at the end. With an engine or a
    session factory the batch is one transaction; should it fail, each chain is retried in its
    own, and a chain that still fails is logged without stopping the others (the readings are
    safe; a later batch or :func:`rebuild` repairs its days).
    """
    tz = ZoneInfo(timezone)
    merged: dict[Chain, tuple[int, int]] = {}
    for meter_pk, quantity, lo, hi in affected:
        if quantity not in CUMULATIVE:
            continue
        old = merged.get((meter_pk, quantity))
        merged[(meter_pk, quantity)] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)
    if not merged:
        return 0
    if isinstance(target, AsyncSession):
        total = await _apply(target, merged, tz)
        await target.commit()
        return total
    factory = (
        async_sessionmaker(target, expire_on_commit=False)
        if isinstance(target, AsyncEngine)
        else target
    )
    try:
        async with factory() as session, session.begin():
            return await _apply(session, merged, tz)
    except Exception:
        log.warning("consumption batch failed; retrying chain by chain", exc_info=True)
    total = 0
    for key, span in sorted(merged.items()):
        try:
            async with factory() as session, session.begin():
                total += await _apply(session, {key: span}, tz)
        except Exception:
            log.exception("consumption of meter %s %s not recomputed", *key)
    return total


async def rebuild(
    target: AsyncEngine | async_sessionmaker[AsyncSession],
    meter_pks: Iterable[int],
    *,
    timezone: str = "Asia/Shanghai",
) -> int:
    """Recompute every chain of these meters from their first reading (after a backfill)."""
    factory = (
        async_sessionmaker(target, expire_on_commit=False)
        if isinstance(target, AsyncEngine)
        else target
    )
    async with factory() as session:
        rows = await session.execute(
            select(Reading.meter_pk, Reading.quantity, func.min(Reading.ts), func.max(Reading.ts))
            .where(Reading.meter_pk.in_(list(meter_pks)), Reading.quantity.in_(CUMULATIVE))
            .group_by(Reading.meter_pk, Reading.quantity)
        )
        affected = [(m, q, lo, hi) for m, q, lo, hi in rows.all()]
    return await on_readings_committed(factory, affected, timezone=timezone)
