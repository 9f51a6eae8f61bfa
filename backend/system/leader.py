"""Single-leader work: the one process of an installation that runs the prepaid sweep, notice
delivery, key purging and command dispatch (publishing and expiry).

On PostgreSQL the leader is whoever holds a session-level advisory lock, taken with
``pg_try_advisory_lock`` on a connection of its own (outside the pool, autocommit). The
others try again every ``poll_s``. PostgreSQL drops a session's locks when its connection ends,
so a leader that dies — SIGKILL, OOM, a lost host once its TCP connection is torn down — frees
the lock and the next follower to try takes it over. The leader checks its connection every
``poll_s`` as well (``SELECT 1``, bounded by ``timeout_s``); when that fails it stops leading at
once. A lock is never stolen: a leader whose connection is alive keeps it.

On SQLite (the embedded default: one process owns the database file) the process is always
the leader.

The overlap window: if the database restarts, or the leader's connection is cut by the
network, the lock is freed at once while the old leader learns of it only at its next check
(at most ``poll_s + timeout_s``). A round already running finishes. The work is made for that:
the sweep's decisions are compare-and-set, notices unique per episode, a command's dispatch a
transition from ``queued`` that happens once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from backend.db import is_sqlite

log = logging.getLogger("meterline.leader")

# pg advisory lock key of the leader: b"mlleader" read as a signed 64-bit integer
LOCK_KEY = int.from_bytes(b"mlleader", "big", signed=True)


class Leader:
    """Who runs the single-leader work. ``held`` is True while this process leads;
    ``on_gained`` callbacks run when it takes over from another leader or after losing the
    lock (to wake the work at once; a process that leads from its start keeps its periods)."""

    def __init__(
        self, database_url: str, *, poll_s: float = 1.0, timeout_s: float = 5.0,
        eligible: bool = True,
    ) -> None:  # fmt: skip
        self.database_url = database_url
        self.embedded = is_sqlite(database_url)
        self.poll_s, self.timeout_s = poll_s, timeout_s
        self.eligible = eligible  # False: a worker that never leads (backend/server.py)
        self.held = self.embedded and eligible
        self.gained = asyncio.Event()  # set while leading
        if self.held:
            self.gained.set()
        self.terms = 1 if self.held else 0  # how many times this process became leader
        self.on_gained: list[Callable[[], None]] = []
        self.refusals = 0  # times another process held the lock when this one asked
        self._engine: AsyncEngine | None = None

    def _gain(self) -> None:
        self.held = True
        self.terms += 1
        self.gained.set()
        log.info("leader: this process now runs the single-leader work (term %d)", self.terms)
        if self.refusals or self.terms > 1:  # taking over: the work is due now
            for callback in self.on_gained:
                callback()

    def _lose(self, why: str) -> None:
        if self.held:
            log.warning("leader: lost the lock (%s); the single-leader work stops here", why)
        self.held = False
        self.gained.clear()

    async def run(self) -> None:
        """Until cancelled: take the lock when free, hold it while the connection lives."""
        if self.embedded or not self.eligible:
            return
        # a pool of none: closing the connection ends the session and so frees the lock
        self._engine = create_async_engine(
            self.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            while True:
                try:
                    async with self._engine.connect() as conn:
                        await self._hold(conn)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database away: try again in a period
                    self._lose(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(self.poll_s)
        finally:
            self._lose("stopping")
            await self._engine.dispose()

    async def _hold(self, conn: AsyncConnection) -> None:
        try:
            await self._check(conn)
        except Exception as exc:  # stop leading before the dead connection is even closed
            self._lose(f"{type(exc).__name__}: {exc}")
            raise

    async def _check(self, conn: AsyncConnection) -> None:
        while True:
            if self.held:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), self.timeout_s)
            else:
                got = await asyncio.wait_for(
                    conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}),
                    self.timeout_s,
                )
                if got:
                    self._gain()
                else:
                    self.refusals += 1
            await asyncio.sleep(self.poll_s)
