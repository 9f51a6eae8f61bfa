"""SQLite writer: one connection, owned by one worker thread, one transaction per batch.

Why a thread and ``json_each``: Python's sqlite3 releases the GIL around every ``sqlite3_step``,
so ``executemany`` over 2,000 rows would hand the GIL back and forth 2,000 times while the event
loop is busy decoding the next messages (the convoy effect costs milliseconds per hand-over).
The readings of a batch instead go in as one JSON array and one statement: SQLite unpacks and
inserts them in C with the GIL released once, while the loop keeps receiving.

Durability: ``synchronous=FULL`` on this connection, so a batch is on disk before its messages
are acknowledged to the broker (in WAL mode that is one fsync per commit); the API's
connections keep the project default.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import msgspec

from backend.metering.derived import intervals_from
from backend.metering.ingest.plan import MeterRef, Plan
from backend.metering.ingest.statements import (
    births,
    dead_letters,
    holds,
    presence,
    run_sync,
    sequences,
)
from backend.metering.ingest.store import Store, WriteResult, sqlite_time
from backend.metering.quarantine.rules import Rating
from protocols.contract import Channel

T = TypeVar("T")
_json = msgspec.json.Encoder()

INSERT_READINGS = """
INSERT OR IGNORE INTO readings (meter_pk, quantity, ts, value, quality, source, received_at)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4,
       CASE value->>4 WHEN 'backfilled' THEN 'backfill' ELSE 'ami' END, value->>5
FROM json_each(?)"""
INSERT_READINGS_RETURNING = INSERT_READINGS + " RETURNING meter_pk, quantity, ts"
INSERT_METER = """
INSERT OR IGNORE INTO meters (meter_id, serial, protocol, address, agent_id, status,
                              relay_control_mode, online, created_at)
VALUES (?, '', ?, ?, ?, 'pending', 2, 0, ?)"""
SELECT_METERS = """
SELECT id, meter_id, agent_id, rated_current_a, voltage_v, phases FROM meters
WHERE meter_id IN (SELECT value FROM json_each(?))"""
INSERT_EVENT = """
INSERT OR IGNORE INTO meter_events (meter_pk, ts, kind, value, text, received_at)
VALUES (?, ?, ?, ?, ?, ?)"""
# Fresh readings: last heard from now; online unless the meter was reported offline later or
# the reading is too old to say anything about now (?4).
# Bookkeeping statements take their rows as one JSON array too: one statement, one GIL release
# (see the module docstring), however many meters or agents a batch touches.
METERS_SEEN = """
UPDATE meters SET last_seen_at = max(coalesce(meters.last_seen_at, u.seen), u.seen),
  online = CASE WHEN u.recent AND NOT EXISTS (SELECT 1 FROM meter_events e
    WHERE e.meter_pk = meters.id AND e.kind = 'offline' AND e.ts > u.ts)
    THEN 1 ELSE meters.online END
FROM (SELECT value->>0 AS pk, value->>1 AS seen, value->>2 AS ts, value->>3 AS recent
      FROM json_each(?)) AS u
WHERE meters.id = u.pk"""
# sequence marks move (null: unchanged) and last_seen_at, for every agent of the batch
AGENTS = """
UPDATE agents SET last_reading_seq = coalesce(u.r, agents.last_reading_seq),
  last_event_seq = coalesce(u.e, agents.last_event_seq),
  last_seen_at = max(coalesce(agents.last_seen_at, u.seen), u.seen)
FROM (SELECT value->>0 AS id, value->>1 AS r, value->>2 AS e, value->>3 AS seen
      FROM json_each(?)) AS u
WHERE agents.id = u.id"""
SELECT_MARKS = """
SELECT id, last_reading_seq, last_event_seq FROM agents
WHERE id IN (SELECT value FROM json_each(?))"""


class SqliteStore(Store):
    def __init__(self, path: str, offline_after_s: int) -> None:
        self.path = path
        self.offline_after_ms = offline_after_s * 1000
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args))

    # --- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        await self._run(self._connect)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=FULL",
                "foreign_keys=ON",
                "busy_timeout=10000",
                "cache_size=-65536",  # 64 MiB: a batch touches one leaf page per meter series
                "wal_autocheckpoint=10000",  # fewer, larger checkpoints under sustained load
            ):
                conn.execute(f"PRAGMA {pragma}")
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._run(_close)
        self._pool.shutdown(wait=True)

    def is_permanent(self, exc: BaseException) -> bool:
        # OperationalError covers "database is locked", I/O and disk-full: worth retrying.
        return isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError | OverflowError)

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlock later
        try:
            out = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return out

    # --- registration -------------------------------------------------------------------

    async def ensure_agents(self, ids: Sequence[str]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO agents (id, name, version, online) VALUES (?, '', '', 0)",
                [(a,) for a in ids],
            )

        await self._run(self._tx, run)

    async def resolve_meters(
        self, agent: str, wanted: Mapping[str, tuple[str, str]]
    ) -> tuple[dict[str, MeterRef], int]:
        now = sqlite_time(time.time_ns() // 1_000_000)

        def run(conn: sqlite3.Connection) -> tuple[dict[str, MeterRef], int]:
            before = conn.total_changes
            rows = [(m, p, a, agent, now) for m, (p, a) in sorted(wanted.items())]
            conn.executemany(INSERT_METER, rows)
            created = conn.total_changes - before
            ids = _json.encode(sorted(wanted))
            refs = {
                r[1]: MeterRef(r[0], r[2], Rating(*r[3:]))
                for r in conn.execute(SELECT_METERS, (ids,))
            }
            return refs, created

        return await self._run(self._tx, run)

    # --- one batch ----------------------------------------------------------------------

    async def write(self, plan: Plan, result: WriteResult, *, intervals: bool) -> None:
        payload = _json.encode(plan.rows) if plan.rows else b""
        done = await self._run(self._tx, partial(self._write, plan, payload, intervals))
        (
            result.inserted,
            result.events_inserted,
            result.states,
            result.gaps,
            result.gaps_filled,
            keys,
        ) = done
        result.intervals = intervals_from(keys) if keys else []
        result.data_done = True

    def _write(
        self, plan: Plan, payload: bytes, intervals: bool, conn: sqlite3.Connection
    ) -> tuple[int, int, int, int, int, list[tuple[int, str, int]]]:
        inserted = events = 0
        keys: list[tuple[int, str, int]] = []
        if payload and intervals:
            keys = conn.execute(INSERT_READINGS_RETURNING, (payload,)).fetchall()
            inserted = len(keys)
        elif payload:
            inserted = conn.execute(INSERT_READINGS, (payload,)).rowcount
        if plan.events:
            before = conn.total_changes
            conn.executemany(INSERT_EVENT, plan.events)
            events = conn.total_changes - before
            run_sync(conn, presence(plan, sqlite_time))
        run_sync(conn, dead_letters(plan, sqlite_time))
        run_sync(conn, holds(plan))
        marks, gaps, filled = self._sequences(conn, plan)
        self._liveness(conn, plan, marks)
        states = run_sync(conn, births(plan, sqlite_time))
        return inserted, events, states, gaps, filled, keys

    def _sequences(
        self, conn: sqlite3.Connection, plan: Plan
    ) -> tuple[dict[str, dict[str, int | None]], int, int]:
        """New sequence marks per agent and channel; records and fills gaps on the way."""
        if not plan.seqs:
            return {}, 0, 0
        agents = _json.encode(sorted({a for a, _c in plan.seqs}))
        marks: dict[str, dict[str, int | None]] = {
            agent: {Channel.READINGS: r, Channel.EVENTS: e}
            for agent, r, e in conn.execute(SELECT_MARKS, (agents,))
        }
        moved, gaps, filled = run_sync(conn, sequences(plan, marks, sqlite_time))
        return moved, gaps, filled

    def _liveness(
        self, conn: sqlite3.Connection, plan: Plan, marks: dict[str, dict[str, int | None]]
    ) -> None:
        if plan.agents_seen:
            rows = [
                (
                    agent,
                    marks.get(agent, {}).get(Channel.READINGS),
                    marks.get(agent, {}).get(Channel.EVENTS),
                    sqlite_time(ms),
                )
                for agent, ms in plan.agents_seen.items()
            ]
            conn.execute(AGENTS, (_json.encode(rows),))
        if plan.meters_seen:
            recent = time.time_ns() // 1_000_000 - self.offline_after_ms
            rows2 = [
                (pk, sqlite_time(ts), ts, int(ts >= recent))
                for pk, ts in sorted(plan.meters_seen.items())
            ]
            conn.execute(METERS_SEEN, (_json.encode(rows2),))
