"""The agent's one SQLite file: outbox, command journal, meter state, counters.

WAL with ``synchronous=FULL``: a commit is on disk (fsynced) before it returns, so a reading
written before a poll counts as done survives kill -9 and power loss. Every statement runs on
one dedicated thread — SQLite connections are not shared across threads, and an fsync must not
stall the event loop that drives the serial buses.

A disk that refuses a write (full, or failing) raises :class:`StorageError` from every call: the
transaction is rolled back, nothing already committed is touched, and the callers wait and try
again — a poll that cannot be recorded is not done, a command that cannot be journaled is not
executed, a batch whose deletion cannot be written is sent again. The agent never dies of it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("edge_agent.database")
RECOVERED_AFTER_S = 5.0


class StorageError(Exception):
    """The agent's disk refused a write (SQLite's FULL or IOERR): retry once there is room."""


def _storage_error(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
-- Everything waiting for a PUBACK. seq is NULL until the row is first put in a batch; a resent
-- batch keeps it, so the backend sees the same seq and the same values again.
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    meter TEXT NOT NULL,
    created INTEGER NOT NULL,
    body BLOB NOT NULL,
    seq INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_by_seq ON outbox (channel, seq, id);
-- Readings dropped by the outbox limits, per meter; unreported ones become an event.
CREATE TABLE IF NOT EXISTS drops (
    meter TEXT PRIMARY KEY,
    total INTEGER NOT NULL,
    unreported INTEGER NOT NULL
);
-- Per meter: when it last answered (for gap filling) and whether it is online (for events).
CREATE TABLE IF NOT EXISTS meters (
    meter TEXT PRIMARY KEY,
    last_ok INTEGER,
    online INTEGER
);
-- The command journal: a command is here before 'received' is acknowledged.
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    meter TEXT NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    relay_state INTEGER,
    error TEXT,
    received_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_by_state ON commands (state);
"""


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-db")
        self.conn: sqlite3.Connection = self._executor.submit(self._open).result()
        self.storage_errors = 0  # writes the disk refused, since start (a metric)
        self.failing = False  # the disk refuses writes (logged when it starts and when it ends)
        self._changes = 0  # the connection's total_changes at the last refusal
        self._refused_at = 0.0  # monotonic time of the last refusal

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        return conn

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(conn, *args)`` on the database thread and wait (for sync callers)."""
        try:
            result = self._executor.submit(fn, self.conn, *args).result()
        except sqlite3.Error as exc:
            if _storage_error(exc):
                raise self._refused(exc) from exc
            raise
        self._recovered()
        return result

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(conn, *args)`` on the database thread without blocking the loop."""
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, fn, self.conn, *args)
        except sqlite3.Error as exc:
            if _storage_error(exc):
                raise self._refused(exc) from exc
            raise
        self._recovered()
        return result

    def _refused(self, exc: sqlite3.Error) -> StorageError:
        self.storage_errors += 1
        self._changes, self._refused_at = self.conn.total_changes, time.monotonic()
        if not self.failing:
            self.failing = True
            log.error("%s: disk full or failing (%s): nothing new is recorded until it takes "
                      "writes again; what is recorded is kept", self.path, exc)  # fmt: skip
        return StorageError(f"{self.path}: {exc}")

    def _recovered(self) -> None:
        """A nearly full disk takes some writes and refuses others: it is back once writes
        go through and none was refused for a while."""
        if (
            self.failing
            and self.conn.total_changes != self._changes
            and time.monotonic() - self._refused_at > RECOVERED_AFTER_S
        ):
            self.failing = False
            log.warning("%s: the disk takes writes again", self.path)

    def close(self) -> None:
        self._executor.submit(self.conn.close).result()
        self._executor.shutdown(wait=True)


class Transaction:
    """``with Transaction(conn): ...`` — BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.Error:  # e.g. the disk is full: the transaction is still open
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        if self.conn.in_transaction:  # SQLite may have rolled it back already (FULL, IOERR)
            self.conn.execute("ROLLBACK")


def get_meta(conn: sqlite3.Connection, key: str, default: int = 0) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else default


def set_meta(conn: sqlite3.Connection, key: str, value: int) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
