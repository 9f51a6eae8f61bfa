"""What the agent remembers per meter across restarts: online or not (so that an offline
meter that comes back after a restart still gets its ``online`` event) and when it last
answered (so that gap filling knows which frozen days are missing)."""

from __future__ import annotations

import sqlite3

from edge_agent.database import Database, Transaction


class MeterStates:
    def __init__(self, db: Database) -> None:
        self.db = db
        rows = db.call(lambda c: c.execute("SELECT meter, last_ok, online FROM meters").fetchall())
        self._last_ok: dict[str, int] = {m: int(t) for m, t, _ in rows if t is not None}
        self._online: dict[str, bool] = {m: bool(o) for m, _, o in rows if o is not None}
        self._errors: dict[str, str | None] = {}
        self._dirty = False

    def online(self, meter: str) -> bool | None:
        return self._online.get(meter)

    def last_ok(self, meter: str) -> int | None:
        return self._last_ok.get(meter)

    def ok(self, meter: str, at_ms: int) -> None:
        self._last_ok[meter] = at_ms
        self._dirty = True

    def note_error(self, meter: str, error: str | None) -> bool:
        """Remember the meter's current error; True if it changed (log only then)."""
        changed = self._errors.get(meter) != error
        self._errors[meter] = error
        return changed

    async def set_online(self, meter: str, online: bool) -> None:
        self._online[meter] = online
        await self.flush()

    async def flush(self) -> None:
        meters = set(self._last_ok) | set(self._online)
        rows = [(m, self._last_ok.get(m), _flag(self._online.get(m))) for m in sorted(meters)]
        self._dirty = False
        await self.db.run(_save, rows)


def _flag(online: bool | None) -> int | None:
    return None if online is None else int(online)


def _save(conn: sqlite3.Connection, rows: list[tuple[str, int | None, int | None]]) -> None:
    with Transaction(conn):
        conn.executemany(
            "INSERT INTO meters (meter, last_ok, online) VALUES (?, ?, ?) ON CONFLICT (meter) "
            "DO UPDATE SET last_ok = excluded.last_ok, online = excluded.online",
            rows,
        )
