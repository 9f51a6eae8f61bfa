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

from backend.metering.derived import AffectedInterval
from backend.metering.ingest.plan import MeterRef, Plan
from backend.metering.ingest.statements import (
    births,
    dead_letters,
    holds,
    presence,
    run_async,
    sequences,
)
from backend.metering.ingest.store import Store, WriteResult, utc
from backend.metering.quarantine.rules import Rating
from protocols.contract import Channel

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
INSERT_METERS = """
INSERT INTO meters (meter_id, serial, protocol, address, agent_id, status, relay_control_mode,
                    online, created_at)
SELECT m, '', p, a, $4, 'pending', 2, false, now()
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(m, p, a) ORDER BY m
ON CONFLICT (meter_id) DO NOTHING"""
SELECT_METERS = (
    "SELECT id, meter_id, agent_id, rated_current_a, voltage_v, phases FROM meters"
    " WHERE meter_id = ANY($1)"
)
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
METERS_SEEN = """
UPDATE meters m SET last_seen_at = GREATEST(m.last_seen_at, u.seen),
  online = CASE WHEN u.recent AND NOT EXISTS (SELECT 1 FROM meter_events e
    WHERE e.meter_pk = m.id AND e.kind = 'offline' AND e.ts > u.ts) THEN true ELSE m.online END
FROM unnest($1::int4[], $2::timestamptz[], $3::int8[], $4::bool[]) AS u(id, seen, ts, recent)
WHERE m.id = u.id"""
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
        return {r[1]: MeterRef(r[0], r[2], Rating(*r[3:])) for r in rows}, _count(status)

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
        tx = (
            conn.transaction()
            if plan.events or plan.dead or plan.holds
            else contextlib.nullcontext()
        )
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
            await run_async(conn, dead_letters(plan, utc))
            await run_async(conn, holds(plan))
        result.inserted, result.events_inserted, result.intervals = inserted, events, spans
        result.data_done = True

    async def _bookkeeping(self, conn: asyncpg.Connection, plan: Plan, result: WriteResult) -> None:
        gaps = filled = 0
        async with conn.transaction():
            if plan.agents_seen:
                agents = sorted(plan.agents_seen)
                locked = await conn.fetch(LOCK_AGENTS, agents)
                marks: dict[str, dict[str, int | None]] = {
                    r[0]: {Channel.READINGS: r[1], Channel.EVENTS: r[2]} for r in locked
                }
                moved, gaps, filled = await run_async(conn, sequences(plan, marks, utc))
                await conn.execute(
                    AGENTS,
                    agents,
                    [moved.get(a, {}).get(Channel.READINGS) for a in agents],
                    [moved.get(a, {}).get(Channel.EVENTS) for a in agents],
                    [utc(plan.agents_seen[a]) for a in agents],
                )
            await run_async(conn, presence(plan, utc))
            if plan.meters_seen:
                pks = sorted(plan.meters_seen)
                ts = [plan.meters_seen[pk] for pk in pks]
                recent = time.time_ns() // 1_000_000 - self.offline_after_ms
                await conn.execute(
                    METERS_SEEN, pks, [utc(t) for t in ts], ts, [t >= recent for t in ts]
                )
            states = await run_async(conn, births(plan, utc))
        result.gaps, result.gaps_filled, result.states = gaps, filled, states
