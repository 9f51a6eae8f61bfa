"""The SQL a batch's bookkeeping runs, written once (SQLAlchemy Core) and compiled for both
ingestion drivers, plus the steps that use it, written once as procedures.

The stores keep their own drivers (sqlite3 in a worker thread, asyncpg on the loop: see their
module docs for why), and their own SQL only where the dialects truly differ — the bulk forms
that take a whole batch as one parameter (SQLite ``json_each(?)``, PostgreSQL
``unnest($1::…[])``) and PostgreSQL's row locks. Everything else is here.

A *procedure* is a generator that yields operations (``One``, ``Many``, ``Fetch``) and gets
each one's result back: the sans-I/O shape, so the same steps run on the synchronous SQLite
connection and on the asynchronous PostgreSQL one (``run_sync`` / ``run_async``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg
import msgspec
from sqlalchemy import (
    JSON,
    BigInteger,
    ClauseElement,
    Integer,
    String,
    bindparam,
    case,
    delete,
    exists,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

from backend.metering.ingest.plan import Plan, advance, fill_gaps
from backend.metering.intervals import HELD
from backend.metering.models import Agent, IngestGap, Meter, MeterEvent, Reading, ReadingSource
from backend.metering.quarantine.models import HoldStatus, ReadingHold
from backend.system.models import DeadLetter
from backend.types import UTCDateTime
from protocols.contract import AgentBirth, EventKind, Quality, RelayState

RELAY_CODES = frozenset(int(s) for s in RelayState)
AMI, BACKFILL = ReadingSource.AMI.value, ReadingSource.BACKFILL.value
TOPIC_MAX = 256  # dead_letters.topic

_params = msgspec.json.Encoder()
_SQLITE = sqlite.dialect(paramstyle="qmark")
_POSTGRES = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]


class Compiled(NamedTuple):
    text: str
    names: tuple[str, ...]  # the bind parameter behind each placeholder, in order
    defaults: Mapping[str, Any]  # values the statement carries itself (literals)

    def args(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(values[n] if n in values else self.defaults[n] for n in self.names)


def _compile(clause: ClauseElement, dialect: Any) -> Compiled:
    c: Any = clause.compile(dialect=dialect)  # a SQLCompiler: positional, so positiontup
    return Compiled(str(c), tuple(c.positiontup or ()), dict(c.params))


class Sql:
    """One statement, compiled for sqlite3 (``?``) and for asyncpg (``$n``)."""

    def __init__(self, clause: ClauseElement) -> None:
        self.sqlite = _compile(clause, _SQLITE)
        self.postgresql = _compile(clause, _POSTGRES)


def _p(name: str) -> Any:
    return bindparam(name)


def _t(name: str, type_: Any) -> Any:
    """A typed parameter (PostgreSQL must know a selected parameter's type)."""
    return bindparam(name, type_=type_)


# Event-driven meter state only moves forward: an update applies unless a newer event of the
# same family is already stored (events can arrive late and out of order).
def _newer(kinds: tuple[str, ...]) -> Any:
    e = MeterEvent
    kind = or_(*(e.kind == k for k in kinds))
    return ~exists().where(e.meter_pk == _p("pk"), kind, e.ts > _p("ts"))


RELAY = Sql(
    update(Meter)
    .where(Meter.id == _p("pk"), _newer((EventKind.RELAY_CHANGED,)))
    .values(relay_state=_p("relay"))
)
ONLINE = Sql(
    update(Meter)
    .where(Meter.id == _p("pk"), _newer((EventKind.ONLINE, EventKind.OFFLINE)))
    .values(
        online=True,
        last_seen_at=case(
            (Meter.last_seen_at.is_(None) | (Meter.last_seen_at < _p("at")), _p("at")),
            else_=Meter.last_seen_at,
        ),
    )
)
OFFLINE = Sql(
    update(Meter)
    .where(
        Meter.id == _p("pk"),
        Meter.last_seen_at.is_(None) | (Meter.last_seen_at <= _p("at")),
        _newer((EventKind.ONLINE, EventKind.OFFLINE)),
    )
    .values(online=False)
)
BIRTH_METER = Sql(
    update(Meter)
    .where(Meter.id == _p("pk"), Meter.protocol == "", Meter.address == "")
    .values(protocol=_p("protocol"), address=_p("address"))
)
# a birth older than the last one applied is a stale retained copy
BIRTH = Sql(
    update(Agent)
    .where(
        Agent.id == _p("agent"),
        Agent.last_birth_at.is_(None) | (Agent.last_birth_at <= _p("at")),
    )
    .values(online=True, version=_p("version"), last_birth_at=_p("at"))
)
# the moment a will arrives for an agent that was online (a retained copy read again later
# leaves it): what the outage correlator judges (backend.areas.correlator)
DEATH = Sql(
    update(Agent)
    .where(Agent.id == _p("agent"))
    .values(
        online=False,
        died_at=case((Agent.online.is_(True), _t("at", UTCDateTime())), else_=Agent.died_at),
    )
)
INSERT_DEAD = Sql(
    insert(DeadLetter).values(
        received_at=_p("at"), source="mqtt", topic=_p("topic"), reason=_p("reason"),
        payload=_p("payload"),
    )
)  # fmt: skip
_G = IngestGap
INSERT_GAP = Sql(
    insert(_G).values(
        agent_id=_p("agent"), channel=_p("channel"), first_missing=_p("first"),
        last_missing=_p("last"), detected_at=_p("at"),
    )
)  # fmt: skip
# the gaps a late arrival may fall in, locked (PostgreSQL) against a parallel writer
SELECT_GAPS = Sql(
    select(_G.id, _G.first_missing, _G.last_missing)
    .where(
        _G.agent_id == _p("agent"), _G.channel == _p("channel"),
        _G.last_missing >= _p("lo"), _G.first_missing <= _p("hi"),
    )
    .order_by(_G.id)
    .with_for_update()
)  # fmt: skip
UPDATE_GAP = Sql(
    update(_G).where(_G.id == _p("gap")).values(first_missing=_p("first"), last_missing=_p("last"))
)
DELETE_GAP = Sql(delete(_G).where(_G.id == _p("gap")))
# a hold row for a reading the batch stored held — not for one already stored (a resend of a
# reading stored before keeps what it had), and only once
_H, _R = ReadingHold, Reading
_HOLD_COLUMNS = ("meter_pk", "quantity", "ts", "value", "quality", "source", "reason", "params",
                 "status", "held_at")  # fmt: skip
INSERT_HOLD = Sql(
    insert(_H).from_select(
        list(_HOLD_COLUMNS),
        select(
            _t("pk", Integer), _t("quantity", String), _t("ts", BigInteger),
            _t("value", BigInteger), _t("quality", String), _t("source", String),
            _t("reason", String), _t("params", JSON), literal(HoldStatus.HELD.value),
            _t("at", BigInteger),
        ).where(
            exists().where(
                _R.meter_pk == _p("pk"), _R.quantity == _p("quantity"), _R.ts == _p("ts"),
                _R.quality == HELD,
            ),
            ~exists().where(
                _H.meter_pk == _p("pk"), _H.quantity == _p("quantity"), _H.ts == _p("ts")
            ),
        ),
    )
)  # fmt: skip


# --- operations and the procedures that yield them ---------------------------------------


@dataclass(slots=True)
class One:
    """Run once; the result is the number of rows it changed."""

    sql: Sql
    values: Mapping[str, Any]


@dataclass(slots=True)
class Many:
    """Run once per row (executemany); no result."""

    sql: Sql
    rows: Sequence[Mapping[str, Any]]


@dataclass(slots=True)
class Fetch:
    """Run once; the result is the rows, as tuples."""

    sql: Sql
    values: Mapping[str, Any]


Op = One | Many | Fetch
Procedure = Generator[Op, Any, Any]
Time = Callable[[int], Any]  # epoch ms → the driver's timestamp value


def dead_letters(plan: Plan, time: Time) -> Procedure:
    if plan.dead:
        rows = [
            {"at": time(r), "topic": t[:TOPIC_MAX], "reason": why, "payload": p}
            for r, t, why, p in plan.dead
        ]
        yield Many(INSERT_DEAD, rows)


def holds(plan: Plan) -> Procedure:
    """Hold rows for the readings the batch stored held (quarantine)."""
    if plan.holds:
        rows = [
            {
                "pk": h.meter_pk, "quantity": h.quantity, "ts": h.ts, "value": h.value,
                "quality": h.quality, "reason": h.reason,
                "params": _params.encode(h.params).decode(),
                "source": BACKFILL if h.quality == Quality.BACKFILLED else AMI, "at": h.held_at,
            }
            for h in plan.holds
        ]  # fmt: skip
        yield Many(INSERT_HOLD, rows)


def presence(plan: Plan, time: Time) -> Procedure:
    """Relay state and online/offline from the batch's events (in a stable order: rows are
    locked in the same order by every process)."""
    relays = sorted(
        (pk, ts, value)
        for pk, ts, kind, value, _text, _r in plan.events
        if kind == EventKind.RELAY_CHANGED and value is not None and value in RELAY_CODES
    )
    if relays:
        yield Many(RELAY, [{"pk": pk, "ts": ts, "relay": v} for pk, ts, v in relays])
    for sql, kind in ((ONLINE, EventKind.ONLINE), (OFFLINE, EventKind.OFFLINE)):
        rows = sorted((pk, ts) for pk, ts, k, _v, _t, _r in plan.events if k == kind)
        if rows:
            yield Many(sql, [{"pk": pk, "ts": ts, "at": time(ts)} for pk, ts in rows])


def sequences(plan: Plan, marks: Mapping[str, Mapping[str, int | None]], time: Time) -> Procedure:
    """Move each agent's sequence marks over the batch's seqs, recording new gaps and
    filling known ones; returns (new marks per agent and channel, gaps, filled)."""
    moved: dict[str, dict[str, int | None]] = {}
    gaps = filled = 0
    for (agent, channel), seqs in sorted(plan.seqs.items()):
        adv = advance(marks.get(agent, {}).get(channel), seqs)
        moved.setdefault(agent, {})[channel] = adv.mark
        at = time(plan.agents_seen[agent])
        key = {"agent": agent, "channel": channel, "at": at}
        if adv.gaps:
            yield Many(INSERT_GAP, [{**key, "first": a, "last": b} for a, b in adv.gaps])
            gaps += len(adv.gaps)
        if adv.late:
            found = yield Fetch(SELECT_GAPS, {**key, "lo": min(adv.late), "hi": max(adv.late)})
            change = fill_gaps([(g[0], g[1], g[2]) for g in found], adv.late)
            if change.deleted:
                yield Many(DELETE_GAP, [{"gap": g} for g in change.deleted])
            if change.updated:
                yield Many(
                    UPDATE_GAP, [{"gap": g, "first": a, "last": b} for g, a, b in change.updated]
                )
            if change.inserted:
                yield Many(INSERT_GAP, [{**key, "first": a, "last": b} for a, b in change.inserted])
            filled += change.filled
    return moved, gaps, filled


def births(plan: Plan, time: Time) -> Procedure:
    """Protocol and address of meters an agent's birth lists, where none is known yet; then
    the agents' births and deaths, in arrival order. Returns the states applied."""
    if plan.birth_meters:
        rows = [{"pk": pk, "protocol": p, "address": a} for pk, p, a in sorted(plan.birth_meters)]
        yield Many(BIRTH_METER, rows)
    applied = 0
    for state, received in plan.states:
        if isinstance(state, AgentBirth):
            values = {"agent": state.agent, "version": state.version, "at": time(state.ts)}
            applied += yield One(BIRTH, values)
        else:
            applied += yield One(DEATH, {"agent": state.agent, "at": time(received)})
    return applied


# --- running them -------------------------------------------------------------------------


def run_sync(conn: Any, procedure: Procedure) -> Any:
    """Run a procedure on a sqlite3 connection (in the caller's transaction)."""
    try:
        op = next(procedure)
        while True:
            c = op.sql.sqlite
            if isinstance(op, Many):
                conn.executemany(c.text, [c.args(r) for r in op.rows])
                result: Any = None
            elif isinstance(op, One):
                result = conn.execute(c.text, c.args(op.values)).rowcount
            else:
                result = conn.execute(c.text, c.args(op.values)).fetchall()
            op = procedure.send(result)
    except StopIteration as done:
        return done.value


async def run_async(conn: asyncpg.Connection, procedure: Procedure) -> Any:
    """Run a procedure on an asyncpg connection (in the caller's transaction)."""
    try:
        op = next(procedure)
        while True:
            c = op.sql.postgresql
            if isinstance(op, Many):
                await conn.executemany(c.text, [c.args(r) for r in op.rows])
                result: Any = None
            elif isinstance(op, One):
                status = await conn.execute(c.text, *c.args(op.values))
                result = int(status.rsplit(" ", 1)[-1])
            else:
                result = [tuple(r) for r in await conn.fetch(c.text, *c.args(op.values))]
            op = procedure.send(result)
    except StopIteration as done:
        return done.value
