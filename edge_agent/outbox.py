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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from edge_agent.config import DropPolicy
from edge_agent.config import Outbox as OutboxLimits
from edge_agent.database import Database, Transaction, get_meta, set_meta
from protocols.contract import Channel, CommandAck, EventKind, MeterEvent, Quality, Value

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
    created: int = 0  # when its oldest row was stored (epoch ms)
    newest_id: int = 0  # its last row's id (0: not known)

    def __len__(self) -> int:
        return len(self.items)


BatchSpec = tuple[Channel, int, int, int | None]  # channel, limit, after_id, upto_id


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
        self._acks: list[tuple[Channel, int, asyncio.Future[int]]] = []
        self._committer: asyncio.Task[None] | None = None
        # per commit of polled values, oldest first: (its last row id, when its oldest value
        # was read) — how long stored readings wait to be sent (the overload control's lag)
        self._stored: deque[tuple[int, int]] = deque(maxlen=100_000)
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
        self._commit_soon()
        return await done

    def _commit_soon(self) -> None:
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="outbox-commit")

    async def _commit_queued(self) -> None:
        while self._queued or self._acks:
            group, self._queued = self._queued, []
            acks, self._acks = self._acks, []
            try:
                results, removed = await self.db.run(
                    self._commit, [values for values, _ in group], [(c, s) for c, s, _ in acks]
                )
            except BaseException as exc:
                for done in [d for _, d in group] + [d for _, _, d in acks]:
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
            for (_, _, ack_done), n in zip(acks, removed, strict=True):
                if not ack_done.done():
                    ack_done.set_result(n)
            if group:
                self.changed()

    def _commit(
        self, conn: sqlite3.Connection, groups: list[list[Value]], acks: list[tuple[Channel, int]]
    ) -> tuple[list[Stored], list[int]]:
        """One transaction: the acknowledged batches leave, then the polls' values go in."""
        created = self.clock()
        results: list[Stored] = []
        with Transaction(conn):
            removed = [_delete_batch(conn, channel, seq) for channel, seq in acks]
            acked = sum(
                n for (ch, _), n in zip(acks, removed, strict=True) if ch is Channel.READINGS
            )
            depth = self._readings - acked  # readings after this transaction, so far
            for values in groups:
                stored, dropped = self._insert_readings(conn, values, created, depth)
                depth += stored.stored - dropped
                results.append(stored)
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0] if groups else 0
        self._readings = depth  # only once committed
        if groups:
            read = (v.ts for g in groups for v in g if v.quality is not Quality.BACKFILLED)
            self._stored.append((int(last), min(read, default=created)))
        return results, removed

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

    def oldest_unsent_read(self, after_id: int) -> int | None:
        """When the oldest reading stored with an id above ``after_id`` was read (epoch ms),
        None if none is; commits up to ``after_id`` are forgotten (ids only grow)."""
        stored = self._stored
        while stored and stored[0][0] <= after_id:
            stored.popleft()
        return stored[0][1] if stored else None

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
        return (await self.next_batches([(channel, limit, after_id, upto_id)]))[0]

    async def next_batches(self, wanted: list[BatchSpec]) -> list[Batch | None]:
        """Form several batches (as :meth:`next_batch`, in this order) in one transaction: one
        trip to the database thread and one fsync instead of one per batch."""
        return await self.db.run(_next_batches, wanted)

    async def acked(self, channel: Channel, seq: int) -> int:
        """The batch ``seq`` of ``channel`` was acknowledged: delete its rows; returns how
        many. Deletions share the next commit of polled values (one fsync for both): until it
        is on disk a crash only means the batch is sent again, never that a row is lost."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._acks.append((channel, seq, done))
        self._commit_soon()
        return await done

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


def _next_batches(conn: sqlite3.Connection, wanted: list[BatchSpec]) -> list[Batch | None]:
    with Transaction(conn):
        return [_next_batch(conn, *spec) for spec in wanted]


def _next_batch(
    conn: sqlite3.Connection, channel: Channel, limit: int, after_id: int, upto_id: int | None
) -> Batch | None:
    """Inside the caller's transaction."""
    upper = upto_id if upto_id is not None else 2**62
    rows = conn.execute(
        "SELECT id, created, body FROM outbox WHERE channel = ? AND seq IS NULL AND id > ? "
        "AND id <= ? ORDER BY id LIMIT ?",
        (channel, after_id, upper, limit),
    ).fetchall()
    if not rows:
        return None
    key = f"seq:{channel}"
    seq = get_meta(conn, key) + 1
    set_meta(conn, key, seq)
    # The rows are the first unsent ones of the channel from rows[0] on, so every unsent row
    # of the channel between the first and the last id is one of them: one statement.
    conn.execute(
        "UPDATE outbox SET seq = ? WHERE channel = ? AND seq IS NULL AND id BETWEEN ? AND ?",
        (seq, channel, rows[0][0], rows[-1][0]),
    )
    bodies = [r[2] for r in rows]
    return Batch(channel, seq, _decode(channel, bodies), rows[0][0], rows[0][1], rows[-1][0])  # type: ignore[arg-type]


def _delete_batch(conn: sqlite3.Connection, channel: Channel, seq: int) -> int:
    cursor = conn.execute("DELETE FROM outbox WHERE channel = ? AND seq = ?", (channel, seq))
    return int(cursor.rowcount)
