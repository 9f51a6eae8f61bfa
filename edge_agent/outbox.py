"""The durable store-and-forward outbox: never lose a reading.

Guarantees (docs/edge-agent.md, "Outbox"):

* ``put_*`` returns only after the rows are committed with ``synchronous=FULL``; a poll is done
  only then.
* A row leaves only when its batch is acknowledged (:meth:`acked`): at the backend's receipt
  with ``[outbox] receipts`` (edge_agent/uplink.py), else at the broker's PUBACK. A batch
  gets its ``seq`` when first formed (per channel, persisted, only increasing across restarts)
  and keeps it, and its values, on every resend.
* One transaction per round (group commit): the deletions of acknowledged batches, the values of
  every poll that finished meanwhile and the forming of the uplink's next batches (their ``seq``)
  commit together, so a batch costs one fsync, and its ``seq`` is on disk before it is returned
  to be published.
* Rows are taken in insertion order, so each meter's values go out in acquisition order.
* Size and age are bounded. Over ``max_rows`` the policy drops the oldest unsent readings (or
  refuses the newest, or tells the pollers to pause); every dropped reading is counted per meter,
  persistently, and reported as a ``readings_dropped`` event — events and acks are never dropped.
"""

from __future__ import annotations

import asyncio
import logging
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

log = logging.getLogger("edge_agent.outbox")

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
class Want:
    """Up to ``count`` batches of ``channel`` from unsent rows with ``after_id < id <=
    upto_id``, oldest first, ``limit`` rows each. When more than ``count × limit`` rows wait
    (the outbox backs up), the batches grow evenly, up to ``grow_to`` rows each: fewer
    messages, and fewer commits, per reading as the load rises."""

    channel: Channel
    limit: int
    after_id: int = 0
    upto_id: int | None = None
    count: int = 1
    grow_to: int = 0

    @classmethod
    def of(cls, spec: BatchSpec | Want) -> Want:
        return spec if isinstance(spec, Want) else cls(*spec)


@dataclass
class _Request:
    wants: list[Want]
    done: asyncio.Future[list[Batch | None]]
    park: bool  # wait for rows: answered only once a round forms a batch for it
    seen: bool = False  # a round found nothing for it: parked


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
        self._requests: list[_Request] = []  # batches wanted (parked: until there are rows)
        self._kicked = False  # a round is due even without new values (new rows elsewhere)
        self._committer: asyncio.Task[None] | None = None
        self.commits = 0  # rounds committed (each one transaction, one fsync)
        self.on_commit: Callable[[], object] = lambda: None
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

    @property
    def parked(self) -> int:
        """Requests for batches waiting for rows (``next_batches(wait=True)``)."""
        return sum(1 for r in self._requests if r.seen and not r.done.done())

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

    def _kick(self) -> None:
        self._kicked = True
        self._commit_soon()

    def _due(self) -> bool:
        return bool(self._queued) or bool(self._acks) or self._kicked

    async def _commit_queued(self) -> None:
        # A round runs for polled values, deletions, a request not yet looked at, or when
        # kicked (changed()); whatever else waits, and the parked requests, ride along.
        while self._due():
            self._kicked = False
            group, self._queued = self._queued, []
            acks, self._acks = self._acks, []
            requests = [r for r in self._requests if not r.done.done()]  # not cancelled
            self._requests = []
            try:
                results, removed, formed = await self.db.run(
                    self._commit,
                    [values for values, _ in group],
                    [(c, s) for c, s, _ in acks],
                    [r.wants for r in requests],
                )
            except BaseException as exc:
                for done in [d for _, d in group] + [d for _, _, d in acks]:
                    _fail(done, exc)
                for r in requests:
                    _fail(r.done, exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            if group or acks or any(b is not None for f in formed for b in f):
                self.commits += 1
                self.on_commit()
            for (_, done), stored in zip(group, results, strict=True):
                if not done.done():  # its poller may have been cancelled meanwhile
                    done.set_result(stored)
            for (_, _, ack_done), n in zip(acks, removed, strict=True):
                if not ack_done.done():
                    ack_done.set_result(n)
            self._answer(requests, formed)
            if group:
                self._notify()

    async def flush(self) -> None:
        """Wait for the round under way and what queued behind it (at shutdown, so that a
        clean restart does not resend what the broker acknowledged)."""
        if self._acks or self._queued:
            self._kick()
        if self._committer is not None and not self._committer.done():
            try:
                await self._committer
            except Exception:  # the waiting callers got it; at shutdown only note it
                log.exception("the outbox's last commit failed")

    def _answer(self, requests: list[_Request], formed: list[list[Batch | None]]) -> None:
        for r, batches in zip(requests, formed, strict=True):
            # A request cancelled meanwhile leaves its batches formed: they are resent, same
            # seq and values, by the next session (Outbox.unacked).
            if r.done.done():
                continue
            if r.park and all(b is None for b in batches):
                r.seen = True
                self._requests.append(r)  # nothing yet: wait for the next round
            else:
                r.done.set_result(batches)

    def _commit(
        self,
        conn: sqlite3.Connection,
        groups: list[list[Value]],
        acks: list[tuple[Channel, int]],
        wanted: list[list[Want]],
    ) -> tuple[list[Stored], list[int], list[list[Batch | None]]]:
        """One transaction: the acknowledged batches leave, the polls' values go in, then the
        wanted batches are formed (from those values too)."""
        if not groups and not acks and not any(_unsent(conn, w) for ws in wanted for w in ws):
            # Nothing to write (only this thread writes): no transaction, no fsync.
            return [], [], [[None] * sum(w.count for w in ws) for ws in wanted]
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
            formed = [_form_all(conn, wants) for wants in wanted]
        self._readings = depth  # only once committed
        if groups:
            read = (v.ts for g in groups for v in g if v.quality is not Quality.BACKFILLED)
            self._stored.append((int(last), min(read, default=created)))
        return results, removed, formed

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
        """Rows were added outside a round (events, command acks): look for batches again."""
        if self._requests:
            self._kick()
        self._notify()

    def _notify(self) -> None:
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

    async def unsent(self, channel: Channel, upto_id: int) -> int:
        """How many rows of ``channel`` up to ``upto_id`` are in no batch yet."""
        return int(
            await self.db.run(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM outbox WHERE channel = ? AND seq IS NULL AND id <= ?",
                    (channel, upto_id),
                ).fetchone()[0]
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

    async def next_batches(
        self, wanted: Sequence[BatchSpec | Want], *, wait: bool = False
    ) -> list[Batch | None]:
        """Form several batches (as :meth:`next_batch`, in this order; a :class:`Want` of
        ``count`` n gives n entries) in the outbox's next round: the same transaction as the
        polled values and deletions committed with it, one fsync for all. With ``wait``, the
        answer comes only once at least one batch could be formed — in the round that stores
        the values, so they go out without another trip to the disk."""
        done: asyncio.Future[list[Batch | None]] = asyncio.get_running_loop().create_future()
        self._requests.append(_Request([Want.of(w) for w in wanted], done, wait))
        self._kick()  # a round looks at once: rows may be waiting already
        return await done

    async def acked(self, channel: Channel, seq: int) -> int:
        """The batch ``seq`` of ``channel`` was acknowledged: delete its rows; returns how
        many. Deletions share the outbox's next round with the polled values and batches
        queued meanwhile (one fsync for all): until it is on disk a crash only means the batch
        is sent again, never that a row is lost."""
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


def _fail(done: asyncio.Future[Any], exc: BaseException) -> None:
    if not done.done():
        if isinstance(exc, Exception):
            done.set_exception(exc)
        else:
            done.cancel()


def _unsent(conn: sqlite3.Connection, want: Want) -> bool:
    upper = want.upto_id if want.upto_id is not None else 2**62
    sql = "SELECT 1 FROM outbox WHERE channel = ? AND seq IS NULL AND id > ? AND id <= ?"
    return (
        conn.execute(sql + " LIMIT 1", (want.channel, want.after_id, upper)).fetchone() is not None
    )


def _form_all(conn: sqlite3.Connection, wants: list[Want]) -> list[Batch | None]:
    """Inside the caller's transaction: the batches of each want, in order."""
    return [b for want in wants for b in _form(conn, want)]


def _form(conn: sqlite3.Connection, want: Want) -> list[Batch | None]:
    channel, limit, count = want.channel, want.limit, want.count
    upper = want.upto_id if want.upto_id is not None else 2**62
    rows = conn.execute(
        "SELECT id, created, body FROM outbox WHERE channel = ? AND seq IS NULL AND id > ? "
        "AND id <= ? ORDER BY id LIMIT ?",
        (channel, want.after_id, upper, max(limit, want.grow_to) * count),
    ).fetchall()
    if not rows:
        return [None] * count
    per = limit if len(rows) <= limit * count else -(-len(rows) // count)  # grown: even split
    chunks = [rows[i : i + per] for i in range(0, len(rows), per)]
    key = f"seq:{channel}"
    first = get_meta(conn, key) + 1
    batches: list[Batch | None] = []
    for seq, chunk in enumerate(chunks, first):
        # The rows are the first unsent ones of the channel from rows[0] on, so every unsent
        # row of the channel between a chunk's first and last id is one of them: one statement.
        conn.execute(
            "UPDATE outbox SET seq = ? WHERE channel = ? AND seq IS NULL AND id BETWEEN ? AND ?",
            (seq, channel, chunk[0][0], chunk[-1][0]),
        )
        items = _decode(channel, [r[2] for r in chunk])
        batches.append(Batch(channel, seq, items, chunk[0][0], chunk[0][1], chunk[-1][0]))  # type: ignore[arg-type]
    set_meta(conn, key, first + len(chunks) - 1)
    return batches + [None] * (count - len(batches))


def _delete_batch(conn: sqlite3.Connection, channel: Channel, seq: int) -> int:
    cursor = conn.execute("DELETE FROM outbox WHERE channel = ? AND seq = ?", (channel, seq))
    return int(cursor.rowcount)
