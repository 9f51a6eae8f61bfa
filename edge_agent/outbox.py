"""The durable store-and-forward outbox: never lose a reading.

Guarantees (docs/edge-agent.md, "Outbox"):

* ``put_*`` returns only after the rows are committed with ``synchronous=FULL``; a poll is done
  only then.
* A row leaves only when the PUBACK of the batch that carried it arrives (:meth:`acked`). A batch
  gets its ``seq`` when first formed (per channel, persisted, only increasing across restarts)
  and keeps it, and its values, on every resend.
* Rows are taken in insertion order, so each meter's values go out in acquisition order.
* Size and age are bounded. Over ``max_rows`` the policy drops the oldest unsent readings (or
  refuses the newest, or tells the pollers to pause); every dropped reading is counted per meter,
  persistently, and reported as a ``readings_dropped`` event — events and acks are never dropped.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from edge_agent.config import DropPolicy
from edge_agent.config import Outbox as OutboxLimits
from edge_agent.database import Database, Transaction, get_meta, set_meta
from protocols.contract import Channel, CommandAck, EventKind, MeterEvent, Value

CHANNELS = (Channel.READINGS, Channel.EVENTS, Channel.ACKS)  # what the outbox stores

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[Channel, msgspec.msgpack.Decoder[Any]] = {
    Channel.READINGS: msgspec.msgpack.Decoder(Value),
    Channel.EVENTS: msgspec.msgpack.Decoder(MeterEvent),
    Channel.ACKS: msgspec.msgpack.Decoder(CommandAck),
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Batch:
    channel: Channel
    seq: int
    items: list[Value] | list[MeterEvent] | list[CommandAck]
    oldest_id: int

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Stored:
    stored: int
    dropped: int


class Outbox:
    def __init__(
        self,
        db: Database,
        limits: OutboxLimits,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.db = db
        self.limits = limits
        self.clock = clock
        self.listeners: list[Callable[[], None]] = []
        self._queued: list[tuple[list[Value], asyncio.Future[Stored]]] = []
        self._committer: asyncio.Task[None] | None = None
        self._readings = db.call(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM outbox WHERE channel = ?", (Channel.READINGS,)
            ).fetchone()[0]
        )

    # --- writing --------------------------------------------------------------------------

    @property
    def readings_depth(self) -> int:
        return int(self._readings)

    def has_room(self) -> bool:
        """False when the policy is stop_polling and the outbox is full: pollers pause."""
        return (
            self.limits.policy is not DropPolicy.STOP_POLLING
            or self._readings < self.limits.max_rows
        )

    async def put_readings(self, values: Sequence[Value]) -> Stored:
        """Store one poll's values; returns once they are committed (fsynced).

        Group commit: polls of other buses that finish while a commit is on its way to disk
        queue up and share the next transaction, so 50 buses cost a few fsyncs a second rather
        than 50 — and each caller still returns only once its own rows are on disk.
        """
        if not values:
            return Stored(0, 0)
        done: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._queued.append((list(values), done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="outbox-commit")
        return await done

    async def _commit_queued(self) -> None:
        while self._queued:
            group, self._queued = self._queued, []
            try:
                results = await self.db.run(self._put_readings, [values for values, _ in group])
            except BaseException as exc:
                for _, done in group:
                    if not done.done():
                        if isinstance(exc, Exception):
                            done.set_exception(exc)
                        else:
                            done.cancel()
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, done), stored in zip(group, results, strict=True):
                if not done.done():  # its poller may have been cancelled meanwhile
                    done.set_result(stored)
            self.changed()

    def _put_readings(self, conn: sqlite3.Connection, groups: list[list[Value]]) -> list[Stored]:
        created = self.clock()
        added = 0  # net rows this transaction adds, for the in-memory depth after the commit
        results: list[Stored] = []
        with Transaction(conn):
            for values in groups:
                stored, removed = self._insert_readings(
                    conn, values, created, self._readings + added
                )
                added += stored.stored - removed
                results.append(stored)
        self._readings += added
        return results

    def _insert_readings(
        self, conn: sqlite3.Connection, values: list[Value], created: int, depth: int
    ) -> tuple[Stored, int]:
        """Insert one poll's values inside the caller's transaction, applying the limits to an
        outbox holding ``depth`` readings; returns what was stored and how many old rows went."""
        room = self.limits.max_rows - depth
        dropped = 0
        keep = values
        if len(values) > room and self.limits.policy is DropPolicy.DROP_NEWEST:
            keep = values[: max(room, 0)]
            for v in values[len(keep) :]:
                _count_drop(conn, v.meter, 1)
            dropped = len(values) - len(keep)
        conn.executemany(
            "INSERT INTO outbox (channel, meter, created, body) VALUES (?, ?, ?, ?)",
            [(Channel.READINGS, v.meter, created, _encoder.encode(v)) for v in keep],
        )
        over = depth + len(keep) - self.limits.max_rows
        removed = 0
        if over > 0 and self.limits.policy is DropPolicy.DROP_OLDEST:
            removed = _drop_oldest(conn, over)
        return Stored(len(keep), dropped + removed), removed

    async def put_events(self, events: Sequence[MeterEvent]) -> None:
        if events:
            await self.db.run(self._put_other, Channel.EVENTS, list(events))
            self.changed()

    async def put_ack(self, ack: CommandAck) -> None:
        await self.db.run(self._put_other, Channel.ACKS, [ack])
        self.changed()

    def changed(self) -> None:
        """Tell the forwarder there is something new to send."""
        for listener in self.listeners:
            listener()

    def _put_other(
        self, conn: sqlite3.Connection, channel: Channel, items: list[MeterEvent] | list[CommandAck]
    ) -> None:
        with Transaction(conn):
            insert_items(conn, channel, items, self.clock())

    # --- limits -------------------------------------------------------------------------

    async def expire(self) -> int:
        """Drop readings older than max_age_days (counted); returns how many."""
        cutoff = self.clock() - int(self.limits.max_age_days * 86_400_000)
        removed: int = await self.db.run(_expire, cutoff)
        self._readings -= removed
        return removed

    async def report_drops(self) -> int:
        """Turn unreported drops into one readings_dropped event per meter (same commit)."""
        n = int(await self.db.run(self._report_drops))
        if n:
            self.changed()
        return n

    def _report_drops(self, conn: sqlite3.Connection) -> int:
        ts = self.clock()
        with Transaction(conn):
            rows = conn.execute("SELECT meter, unreported FROM drops WHERE unreported > 0")
            events = [
                MeterEvent(
                    meter=meter,
                    ts=ts,
                    kind=EventKind.READINGS_DROPPED,
                    value=count,
                    text=f"outbox limits ({self.limits.policy.value}) dropped {count} readings",
                )
                for meter, count in rows.fetchall()
            ]
            conn.execute("UPDATE drops SET unreported = 0 WHERE unreported > 0")
            conn.executemany(
                "INSERT INTO outbox (channel, meter, created, body) VALUES (?, ?, ?, ?)",
                [(Channel.EVENTS, e.meter, ts, _encoder.encode(e)) for e in events],
            )
        return len(events)

    async def dropped_total(self) -> int:
        return int(
            await self.db.run(
                lambda c: c.execute("SELECT COALESCE(SUM(total), 0) FROM drops").fetchone()[0]
            )
        )

    # --- forwarding ---------------------------------------------------------------------

    async def max_id(self) -> int:
        return int(
            await self.db.run(
                lambda c: c.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
            )
        )

    async def unacked(self, channel: Channel) -> list[Batch]:
        """Batches formed earlier whose PUBACK never came, oldest seq first (to resend)."""
        return await self.db.run(_unacked, channel)

    async def next_batch(
        self, channel: Channel, limit: int, *, after_id: int = 0, upto_id: int | None = None
    ) -> Batch | None:
        """Form a new batch from unsent rows with ``after_id < id <= upto_id``, oldest first."""
        return await self.db.run(_next_batch, channel, limit, after_id, upto_id)

    async def acked(self, channel: Channel, seq: int) -> int:
        removed: int = await self.db.run(_acked, channel, seq)
        if channel == Channel.READINGS:
            self._readings -= removed
        return removed

    async def depth(self) -> dict[Channel, int]:
        rows = await self.db.run(
            lambda c: c.execute("SELECT channel, COUNT(*) FROM outbox GROUP BY channel").fetchall()
        )
        counts = dict.fromkeys(CHANNELS, 0)
        counts.update({Channel(ch): int(n) for ch, n in rows})
        return counts

    async def oldest_created(self) -> int | None:
        row = await self.db.run(lambda c: c.execute("SELECT MIN(created) FROM outbox").fetchone())
        return None if row[0] is None else int(row[0])


def insert_items(
    conn: sqlite3.Connection,
    channel: Channel,
    items: Sequence[MeterEvent] | Sequence[CommandAck],
    created: int,
) -> None:
    """Insert events or acks inside the caller's transaction (the command journal commits a
    state change and its ack together)."""
    conn.executemany(
        "INSERT INTO outbox (channel, meter, created, body) VALUES (?, ?, ?, ?)",
        [(channel, i.meter, created, _encoder.encode(i)) for i in items],
    )


def _count_drop(conn: sqlite3.Connection, meter: str, n: int) -> None:
    conn.execute(
        "INSERT INTO drops (meter, total, unreported) VALUES (?, ?, ?) ON CONFLICT (meter) "
        "DO UPDATE SET total = total + excluded.total, unreported = unreported + excluded.total",
        (meter, n, n),
    )


def _drop_rows(conn: sqlite3.Connection, rows: list[tuple[int, str]]) -> int:
    per_meter: dict[str, int] = {}
    for _id, meter in rows:
        per_meter[meter] = per_meter.get(meter, 0) + 1
    conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i, _ in rows])
    for meter, n in per_meter.items():
        _count_drop(conn, meter, n)
    return len(rows)


def _drop_oldest(conn: sqlite3.Connection, n: int) -> int:
    # Unsent rows first: a row already in flight may still be acknowledged.
    rows = conn.execute(
        "SELECT id, meter FROM outbox WHERE channel = ? AND seq IS NULL ORDER BY id LIMIT ?",
        (Channel.READINGS, n),
    ).fetchall()
    if len(rows) < n:
        rows += conn.execute(
            "SELECT id, meter FROM outbox WHERE channel = ? AND seq IS NOT NULL "
            "ORDER BY id LIMIT ?",
            (Channel.READINGS, n - len(rows)),
        ).fetchall()
    return _drop_rows(conn, rows)


def _expire(conn: sqlite3.Connection, cutoff: int) -> int:
    with Transaction(conn):
        rows = conn.execute(
            "SELECT id, meter FROM outbox WHERE channel = ? AND created < ?",
            (Channel.READINGS, cutoff),
        ).fetchall()
        return _drop_rows(conn, rows)


def _decode(channel: Channel, bodies: list[bytes]) -> list[object]:
    dec = _decoders[channel]
    return [dec.decode(b) for b in bodies]


def _unacked(conn: sqlite3.Connection, channel: Channel) -> list[Batch]:
    rows = conn.execute(
        "SELECT seq, id, body FROM outbox WHERE channel = ? AND seq IS NOT NULL ORDER BY seq, id",
        (channel,),
    ).fetchall()
    batches: list[Batch] = []
    current: int | None = None
    bodies: list[bytes] = []
    first = 0
    for seq, row_id, body in rows:
        if seq != current:
            if current is not None:
                batches.append(Batch(channel, current, _decode(channel, bodies), first))  # type: ignore[arg-type]
            current, bodies, first = seq, [], row_id
        bodies.append(body)
    if current is not None:
        batches.append(Batch(channel, current, _decode(channel, bodies), first))  # type: ignore[arg-type]
    return batches


def _next_batch(
    conn: sqlite3.Connection, channel: Channel, limit: int, after_id: int, upto_id: int | None
) -> Batch | None:
    upper = upto_id if upto_id is not None else 2**62
    with Transaction(conn):
        rows = conn.execute(
            "SELECT id, body FROM outbox WHERE channel = ? AND seq IS NULL AND id > ? AND id <= ? "
            "ORDER BY id LIMIT ?",
            (channel, after_id, upper, limit),
        ).fetchall()
        if not rows:
            return None
        key = f"seq:{channel}"
        seq = get_meta(conn, key) + 1
        set_meta(conn, key, seq)
        conn.executemany("UPDATE outbox SET seq = ? WHERE id = ?", [(seq, r[0]) for r in rows])
    return Batch(channel, seq, _decode(channel, [r[1] for r in rows]), rows[0][0])  # type: ignore[arg-type]


def _acked(conn: sqlite3.Connection, channel: Channel, seq: int) -> int:
    with Transaction(conn):
        return conn.execute(
            "DELETE FROM outbox WHERE channel = ? AND seq = ?", (channel, seq)
        ).rowcount
