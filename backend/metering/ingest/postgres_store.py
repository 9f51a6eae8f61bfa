"""PostgreSQL writer: asyncpg, arrays in, one statement per kind of row.

A batch commits in two steps, each atomic. First the data: readings (one ``INSERT … SELECT
FROM unnest(…) ON CONFLICT DO NOTHING``), events and dead letters. Then the bookkeeping that
updates shared rows: sequence marks and gaps, last-seen times, agent state. Keeping the agent
and meter row locks out of the long insert is what lets several ingestion processes (shared
subscription) insert in parallel instead of queueing behind each other's row locks. A failure
between the two is retried from the second step; the messages are acknowledged only after both.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence

import asyncpg

from backend.metering.ingest.hooks import AffectedInterval
from backend.metering.ingest.plan import MeterRef, Plan, fill_gaps
from backend.metering.ingest.store import (
    TOPIC_MAX,
    Store,
    WriteResult,
    advances,
    presence_events,
    relay_updates,
    utc,
)
from protocols.contract import AgentBirth, Channel, EventKind

_ROWS = """
SELECT m, q, t, v, ql, CASE WHEN ql = 'backfilled' THEN 'backfill' ELSE 'ami' END, r
FROM unnest($1::int4[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::int8[])
     AS u(m, q, t, v, ql, r)"""
INSERT_READINGS = f"""
INSERT INTO readings (meter_pk, quantity, ts, value, quality, source, received_at) {_ROWS}
ON CONFLICT DO NOTHING"""
INSERT_READINGS_SPANS = f"""
WITH ins AS (
  INSERT INTO readings (meter_pk, quantity, ts, value, quality, source, received_at) {_ROWS}
  ON CONFLICT DO NOTHING RETURNING meter_pk, quantity, ts)
SELECT meter_pk, quantity, min(ts), max(ts), count(*)::int FROM ins GROUP BY 1, 2"""  # noqa: S608
INSERT_EVENTS = """
INSERT INTO meter_events (meter_pk, ts, kind, value, text, received_at)
SELECT * FROM unnest($1::int4[], $2::int8[], $3::text[], $4::int8[], $5::text[], $6::int8[])
ON CONFLICT DO NOTHING"""
INSERT_DEAD = """
INSERT INTO dead_letters (received_at, source, topic, reason, payload)
SELECT r, 'mqtt', t, w, p FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bytea[])
     AS u(r, t, w, p)"""
INSERT_METERS = """
INSERT INTO meters (meter_id, serial, protocol, address, agent_id, status, relay_control_mode,
                    online, created_at)
SELECT m, '', p, a, $4, 'pending', 2, false, now()
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(m, p, a) ORDER BY m
ON CONFLICT (meter_id) DO NOTHING"""
SELECT_METERS = "SELECT id, meter_id, agent_id FROM meters WHERE meter_id = ANY($1)"
# Locks the batch's agent rows, in id order (no deadlock between processes), for the update.
LOCK_AGENTS = """
SELECT id, last_reading_seq, last_event_seq FROM agents WHERE id = ANY($1) ORDER BY id
FOR UPDATE"""
# sequence marks move (null: unchanged) and last_seen_at, for every agent of the batch
AGENTS = """
UPDATE agents a SET last_reading_seq = coalesce(u.r, a.last_reading_seq),
                    last_event_seq = coalesce(u.e, a.last_event_seq),
                    last_seen_at = GREATEST(a.last_seen_at, u.seen)
FROM unnest($1::text[], $2::int8[], $3::int8[], $4::timestamptz[]) AS u(id, r, e, seen)
WHERE a.id = u.id"""
INSERT_GAPS = """
INSERT INTO ingest_gaps (agent_id, channel, first_missing, last_missing, detected_at)
SELECT $1, $2, f, l, $5 FROM unnest($3::int8[], $4::int8[]) AS u(f, l)"""
SELECT_GAPS = """
SELECT id, first_missing, last_missing FROM ingest_gaps
WHERE agent_id = $1 AND channel = $2 AND last_missing >= $3 AND first_missing <= $4
ORDER BY id FOR UPDATE"""
UPDATE_GAP = "UPDATE ingest_gaps SET first_missing = $2, last_missing = $3 WHERE id = $1"
# Event-driven meter state only moves forward (see the SQLite store for the same rules).
RELAY = """
UPDATE meters SET relay_state = $1 WHERE id = $2 AND NOT EXISTS (
  SELECT 1 FROM meter_events e WHERE e.meter_pk = $2 AND e.kind = 'relay_changed' AND e.ts > $3)"""
ONLINE = """
UPDATE meters SET online = true, last_seen_at = GREATEST(last_seen_at, $1)
WHERE id = $2 AND NOT EXISTS (SELECT 1 FROM meter_events e
  WHERE e.meter_pk = $2 AND e.kind IN ('online', 'offline') AND e.ts > $3)"""
OFFLINE = """
UPDATE meters SET online = false
WHERE id = $2 AND (last_seen_at IS NULL OR last_seen_at <= $1) AND NOT EXISTS (
  SELECT 1 FROM meter_events e WHERE e.meter_pk = $2 AND e.kind IN ('online', 'offline')
  AND e.ts > $3)"""
METERS_SEEN = """
UPDATE meters m SET last_seen_at = GREATEST(m.last_seen_at, u.seen),
  online = CASE WHEN u.recent AND NOT EXISTS (SELECT 1 FROM meter_events e
    WHERE e.meter_pk = m.id AND e.kind = 'offline' AND e.ts > u.ts) THEN true ELSE m.online END
FROM unnest($1::int4[], $2::timestamptz[], $3::int8[], $4::bool[]) AS u(id, seen, ts, recent)
WHERE m.id = u.id"""
BIRTH_METERS = """
UPDATE meters m SET protocol = u.p, address = u.a
FROM unnest($1::int4[], $2::text[], $3::text[]) AS u(id, p, a)
WHERE m.id = u.id AND m.protocol = '' AND m.address = ''"""
BIRTH = """
UPDATE agents SET online = true, version = $1, last_birth_at = $2
WHERE id = $3 AND (last_birth_at IS NULL OR last_birth_at <= $2)"""
DEATH = "UPDATE agents SET online = false WHERE id = $1"

_TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash recovery
    asyncpg.exceptions.InsufficientResourcesError,  # disk full, too many connections
)


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore(Store):
    def __init__(self, dsn: str, offline_after_s: int) -> None:
        self.dsn = dsn
        self.offline_after_ms = offline_after_s * 1000
        self._conn: asyncpg.Connection | None = None

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, command_timeout=60)
        return self._conn

    async def open(self) -> None:
        await self._connection()

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None

    def is_permanent(self, exc: BaseException) -> bool:
        if isinstance(exc, _TRANSIENT):
            return False
        return isinstance(exc, asyncpg.PostgresError | OverflowError | ValueError | TypeError)

    async def _reset_on(self, exc: BaseException) -> None:
        if not self.is_permanent(exc):  # the connection may be unusable: start afresh
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.terminate()

    # --- registration -------------------------------------------------------------------

    async def ensure_agents(self, ids: Sequence[str]) -> None:
        conn = await self._connection()
        try:
            await conn.execute(
                "INSERT INTO agents (id, name, version, online) SELECT a, '', '', false"
                " FROM unnest($1::text[]) AS u(a) ORDER BY a ON CONFLICT (id) DO NOTHING",
                sorted(ids),
            )
        except BaseException as exc:
            await self._reset_on(exc)
            raise

    async def resolve_meters(
        self, agent: str, wanted: Mapping[str, tuple[str, str]]
    ) -> tuple[dict[str, MeterRef], int]:
        conn = await self._connection()
        ids = sorted(wanted)
        try:
            async with conn.transaction():
                status = await conn.execute(
                    INSERT_METERS,
                    ids,
                    [wanted[m][0] for m in ids],
                    [wanted[m][1] for m in ids],
                    agent,
                )
                rows = await conn.fetch(SELECT_METERS, ids)
        except BaseException as exc:
            await self._reset_on(exc)
            raise
        return {r[1]: MeterRef(r[0], r[2]) for r in rows}, _count(status)

    # --- one batch ----------------------------------------------------------------------

    async def write(self, plan: Plan, result: WriteResult, *, intervals: bool) -> None:
        conn = await self._connection()
        try:
            if not result.data_done:
                await self._data(conn, plan, result, intervals)
            await self._bookkeeping(conn, plan, result)
        except BaseException as exc:
            await self._reset_on(exc)
            raise

    async def _data(
        self, conn: asyncpg.Connection, plan: Plan, result: WriteResult, intervals: bool
    ) -> None:
        inserted = events = 0
        spans: list[AffectedInterval] = []
        # readings alone (the usual batch) are one statement: its own implicit transaction
        tx = conn.transaction() if plan.events or plan.dead else contextlib.nullcontext()
        async with tx:
            if plan.rows:
                columns = list(zip(*plan.rows, strict=True))
                if intervals:
                    found = await conn.fetch(INSERT_READINGS_SPANS, *columns)
                    spans = [AffectedInterval(*r) for r in found]
                    inserted = sum(s.readings for s in spans)
                else:
                    inserted = _count(await conn.execute(INSERT_READINGS, *columns))
            if plan.events:
                columns = list(zip(*plan.events, strict=True))
                events = _count(await conn.execute(INSERT_EVENTS, *columns))
            if plan.dead:
                await conn.execute(
                    INSERT_DEAD,
                    [utc(r) for r, _t, _w, _p in plan.dead],
                    [t[:TOPIC_MAX] for _r, t, _w, _p in plan.dead],
                    [w for _r, _t, w, _p in plan.dead],
                    [p for _r, _t, _w, p in plan.dead],
                )
        result.inserted, result.events_inserted, result.intervals = inserted, events, spans
        result.data_done = True

    async def _bookkeeping(self, conn: asyncpg.Connection, plan: Plan, result: WriteResult) -> None:
        states = gaps = filled = 0
        async with conn.transaction():
            if plan.agents_seen:
                agents = sorted(plan.agents_seen)
                locked = await conn.fetch(LOCK_AGENTS, agents)
                marks: dict[str, dict[str, int | None]] = {
                    r[0]: {Channel.READINGS: r[1], Channel.EVENTS: r[2]} for r in locked
                }
                moved, gaps, filled = await self._sequences(conn, plan, marks)
                await conn.execute(
                    AGENTS,
                    agents,
                    [moved.get(a, {}).get(Channel.READINGS) for a in agents],
                    [moved.get(a, {}).get(Channel.EVENTS) for a in agents],
                    [utc(plan.agents_seen[a]) for a in agents],
                )
            if plan.events:
                await self._presence(conn, plan)
            if plan.meters_seen:
                pks = sorted(plan.meters_seen)
                ts = [plan.meters_seen[pk] for pk in pks]
                recent = time.time_ns() // 1_000_000 - self.offline_after_ms
                await conn.execute(
                    METERS_SEEN, pks, [utc(t) for t in ts], ts, [t >= recent for t in ts]
                )
            if plan.birth_meters:
                await conn.execute(BIRTH_METERS, *zip(*plan.birth_meters, strict=True))
            for state, _received in plan.states:
                if isinstance(state, AgentBirth):
                    status = await conn.execute(BIRTH, state.version, utc(state.ts), state.agent)
                else:
                    status = await conn.execute(DEATH, state.agent)
                states += _count(status)
        result.gaps, result.gaps_filled, result.states = gaps, filled, states

    async def _presence(self, conn: asyncpg.Connection, plan: Plan) -> None:
        relays = sorted(relay_updates(plan))
        if relays:
            await conn.executemany(RELAY, [(state, pk, ts) for pk, ts, state in relays])
        for sql, kind in ((ONLINE, EventKind.ONLINE), (OFFLINE, EventKind.OFFLINE)):
            rows = sorted(presence_events(plan, kind))
            if rows:
                await conn.executemany(sql, [(utc(ts), pk, ts) for pk, ts in rows])

    async def _sequences(
        self, conn: asyncpg.Connection, plan: Plan, marks: dict[str, dict[str, int | None]]
    ) -> tuple[dict[str, dict[str, int | None]], int, int]:
        """New sequence marks per agent and channel; records and fills gaps on the way."""
        moved: dict[str, dict[str, int | None]] = {}
        gaps = filled = 0
        for (agent, channel), adv in sorted(advances(plan, marks).items()):
            moved.setdefault(agent, {})[channel] = adv.mark
            at = utc(plan.agents_seen[agent])
            if adv.gaps:
                firsts, lasts = [a for a, _b in adv.gaps], [b for _a, b in adv.gaps]
                await conn.execute(INSERT_GAPS, agent, channel, firsts, lasts, at)
                gaps += len(adv.gaps)
            if adv.late:
                found = await conn.fetch(SELECT_GAPS, agent, channel, min(adv.late), max(adv.late))
                change = fill_gaps([tuple(g) for g in found], adv.late)
                if change.deleted:
                    await conn.execute("DELETE FROM ingest_gaps WHERE id = ANY($1)", change.deleted)
                if change.updated:
                    await conn.executemany(UPDATE_GAP, change.updated)
                if change.inserted:
                    firsts = [a for a, _b in change.inserted]
                    lasts = [b for _a, b in change.inserted]
                    await conn.execute(INSERT_GAPS, agent, channel, firsts, lasts, at)
                filled += change.filled
        return moved, gaps, filled
