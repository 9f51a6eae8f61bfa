"""The uplink: keep an MQTT session up and drain the outbox through it.

Per connection: publish the birth (retained), subscribe to our commands, resend every batch
formed earlier whose PUBACK never came (same seq, same values), then forward new batches. Up
to ``outbox.inflight`` batches are in flight; each one's rows are deleted on *its* PUBACK, or,
with ``outbox.receipts``, only when the backend's receipt names its seq (the PUBACK then only
frees the slot; a batch not receipted within ``receipt_timeout_s`` is published again).
New batches are asked for only when a slot is free, and the request waits in the outbox for
its next round (docs/edge-agent.md, "Outbox"): values and their batch's seq share one commit,
and what gathers while every slot is taken goes out together, in larger messages (up to the
contract's ``MAX_BATCH_ITEMS``) once the outbox backs up.

After an outage the backlog (rows stored before this connection) is throttled to
``outbox.catch_up_rate`` readings/s and interleaved with live batches (rows stored since):
live first, then backlog, alternating, so dashboards see current values at once while a fleet
that reconnects together does not flood the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import paho.mqtt.client as mqtt

from edge_agent import __version__
from edge_agent.config import AgentConfig
from edge_agent.database import StorageError
from edge_agent.metrics import Metrics
from edge_agent.mqtt import Connection, ConnectionLost
from edge_agent.outbox import Batch, Outbox, Want, now_ms
from edge_agent.secrets import read_password
from protocols.backoff import backoff_delay, next_attempt
from protocols.contract import (
    MAX_BATCH_ITEMS,
    AgentBirth,
    AgentDeath,
    Channel,
    CommandAck,
    ContractError,
    Encoding,
    EventBatch,
    MeterEvent,
    MeterInfo,
    Quality,
    ReadingBatch,
    Receipt,
    Value,
    agent_topic,
    decode,
    encode,
)

log = logging.getLogger("edge_agent.uplink")

CommandHandler = Callable[[bytes], Awaitable[None]]

MAX_RECEIPT_BYTES = 64 * 1024  # checked before decoding: a Receipt names at most 2,000 seqs
_RECEIPTED = (Channel.READINGS, Channel.EVENTS)  # command acks carry no seq: PUBACK as before


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    async def take(self, n: int) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= min(n, self.burst):
                self.tokens -= n
                return
            await asyncio.sleep((min(n, self.burst) - self.tokens) / self.rate)


def _oldest_read(batch: Batch) -> int:
    """When the batch's oldest value was read (epoch ms); frozen values read back later
    (``backfilled``, stamped with their freeze time) do not count."""
    values: list[Value] = batch.items  # type: ignore[assignment]
    stamps = [v.ts for v in values if v.quality is not Quality.BACKFILLED]
    return min(stamps) if stamps else now_ms()


class _InFlight:
    """Up to ``limit`` batches published at once, each in its own task; the first failure is
    kept so the forwarder can end the session with it.

    A batch holds its slot until its PUBACK, not until its rows are deleted: ``publish``
    returns at the PUBACK with the rest of the work (the deletion, which waits for the next
    commit of the outbox) as an awaitable, and the slot goes to the next batch meanwhile."""

    def __init__(
        self, limit: int, publish: Callable[[Batch], Awaitable[Awaitable[object] | None]]
    ) -> None:
        self.limit = limit
        self.slots = asyncio.Semaphore(limit)
        self.publish = publish
        self.tasks: set[asyncio.Task[None]] = set()
        self.held = 0  # slots taken by batches not yet acknowledged
        self.failure: BaseException | None = None
        self.failed = asyncio.Event()

    async def send(self, batch: Batch) -> None:
        await self.slots.acquire()
        self.held += 1
        task = asyncio.create_task(self._publish(batch), name="uplink-send")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def _publish(self, batch: Batch) -> None:
        held = True
        try:
            after = await self.publish(batch)
            held = False
            self._release()
            if after is not None:
                await after
        finally:
            if held:
                self._release()

    def _release(self) -> None:
        self.held -= 1
        self.slots.release()

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()
            self.failed.set()

    def free(self) -> int:
        return self.limit - self.held

    async def wait_free(self) -> None:
        """Until a slot is free: batches are formed only then, so that the rows arriving while
        every slot waits for its PUBACK go out together, in fewer and larger messages."""
        if self.held >= self.limit:
            await self.slots.acquire()
            self.slots.release()

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure


class Uplink:
    def __init__(
        self,
        config: AgentConfig,
        outbox: Outbox,
        metrics: Metrics,
        on_command: CommandHandler,
        meters: list[MeterInfo],
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.metrics = metrics
        self.on_command = on_command
        self.meters = meters
        self.agent = config.agent_id
        self.encoding: Encoding = config.broker.encoding
        self.connection: Connection | None = None
        self._connected_at = 0.0  # time.monotonic() of the last CONNACK
        self.connected_once = asyncio.Event()
        self._stopping = False
        # for the overload control (edge_agent/pacing.py): live readings batches in flight
        # (seq -> when their oldest value was read) and the last PUBACK's (monotonic s, lag s)
        self._live: dict[int, int] = {}
        self._last_ack: tuple[float, float] = (0.0, 0.0)
        self._sent_upto = 2**62  # live rows up to this id are in batches (none: no session)
        # With receipts: batches the broker acknowledged and the backend has not receipted yet
        self.awaiting: dict[tuple[Channel, int], _Awaiting] = {}
        self._receipted = asyncio.Event()  # set by each receipt: the window may have room
        self.receipts_topic = agent_topic(self.agent, Channel.RECEIPTS)

    def lag_s(self) -> float:
        """How far behind the uplink is: the age of the oldest live reading not yet
        acknowledged — in flight now, or in the batch acknowledged last (within the past
        second). 0 while disconnected: the backlog of an outage is not overload."""
        conn = self.connection
        if conn is None or conn.closed.is_set():
            return 0.0
        at, lag = self._last_ack
        recent = lag if time.monotonic() - at < 1.0 else 0.0
        oldest = self.outbox.oldest_unsent_read(self._sent_upto)  # stored, not yet in a batch
        if self._live:
            flying = min(self._live.values())
            oldest = flying if oldest is None else min(oldest, flying)
        if oldest is not None:
            return max(recent, (now_ms() - oldest) / 1000)
        return recent

    async def run(self) -> None:
        attempt = 0
        broker = self.config.broker
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._session()
            except (OSError, ConnectionLost, TimeoutError, ConnectionRefusedError) as exc:
                log.warning("MQTT %s:%d: %s", broker.host, broker.port, exc or type(exc).__name__)
            except StorageError:  # the disk is full (logged once): what is unacked is resent
                pass
            finally:
                self.metrics.mqtt_connected.set(0)
                self.connection = None
            if self._stopping:
                break
            held = time.monotonic() - self._connected_at if self._connected_at >= started else None
            attempt = next_attempt(attempt, held)
            await asyncio.sleep(
                backoff_delay(
                    attempt, broker.reconnect_min_s, broker.reconnect_max_s, random.random()
                )
            )

    def _connection(self) -> Connection:
        broker = self.config.broker
        death = AgentDeath(agent=self.agent, ts=now_ms(), clean=False)
        return Connection(
            broker,
            client_id=broker.client_id or self.agent,
            username=broker.username or self.agent,
            password=read_password(broker.password_file, broker.password_env, None),
            will=(agent_topic(self.agent, Channel.STATE), encode(death, self.encoding)),
            on_message=self._message,
        )

    async def _session(self) -> None:
        conn = self._connection()
        await conn.open(wait_s=max(10.0, self.config.broker.keepalive_s))
        self.connection = conn
        self._connected_at = time.monotonic()
        self.metrics.mqtt_connected.set(1)
        log.info("MQTT connected to %s:%d", self.config.broker.host, self.config.broker.port)
        conn.subscribe(agent_topic(self.agent, Channel.COMMANDS))
        if self.config.outbox.receipts:
            conn.subscribe(self.receipts_topic)
        birth = AgentBirth(agent=self.agent, ts=now_ms(), version=__version__, meters=self.meters)
        topic = agent_topic(self.agent, Channel.STATE)
        await conn.publish(topic, encode(birth, self.encoding), retain=True)
        self.connected_once.set()
        forward = asyncio.create_task(self._forward(conn), name="uplink-forward")
        closed = asyncio.create_task(conn.closed.wait(), name="uplink-closed")
        try:
            await asyncio.wait({forward, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (forward, closed):
                t.cancel()
            for t in (forward, closed):
                with contextlib.suppress(asyncio.CancelledError, ConnectionLost):
                    await t
            if not conn.closed.is_set():
                conn.abort()
        if forward.done() and not forward.cancelled() and forward.exception():
            raise forward.exception()  # type: ignore[misc]
        raise ConnectionLost(conn.close_reason)

    def _message(self, conn: Connection, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.receipts_topic:
            self._receipt(bytes(msg.payload))
            conn.ack_message(msg)  # the deletions it asks for are idempotent: ack at once
            return

        async def handle() -> None:
            try:
                await self.on_command(bytes(msg.payload))
            except Exception:
                log.exception("command handling failed; not acknowledged, the broker resends")
                return
            conn.ack_message(msg)

        asyncio.get_running_loop().create_task(handle(), name="command-intake")

    # --- receipts -----------------------------------------------------------------------

    def _receipt(self, payload: bytes) -> None:
        """The backend committed these batches: their rows leave in the outbox's next round
        (with whatever else it commits). A seq we do not know deletes nothing; a malformed
        receipt is counted and logged, never fatal."""
        try:
            if len(payload) > MAX_RECEIPT_BYTES:
                raise ContractError(f"{len(payload)} bytes, over {MAX_RECEIPT_BYTES}")
            receipt: Receipt = decode(payload, Receipt)
            if receipt.agent != self.agent:
                raise ContractError(f"receipt for agent {receipt.agent!r}")
        except ContractError as exc:
            self.metrics.receipts_malformed.inc()
            log.warning("receipt ignored: %s", exc)
            return
        loop = asyncio.get_running_loop()
        for channel, seqs in (
            (Channel.READINGS, receipt.readings),
            (Channel.EVENTS, receipt.events),
        ):
            for seq in seqs:
                self.awaiting.pop((channel, seq), None)
                self._receipted.set()
                task = loop.create_task(self.outbox.acked(channel, seq), name="receipt-delete")
                task.add_done_callback(_logged)
        self._awaiting_metrics()

    def _awaiting_metrics(self) -> None:
        self.metrics.awaiting_receipt.set(len(self.awaiting))
        oldest = min((a.sent_at for a in self.awaiting.values()), default=None)
        self.metrics.awaiting_receipt_age.set(0.0 if oldest is None else time.monotonic() - oldest)

    async def _resend_unreceipted(self, sending: _InFlight) -> None:
        """Send again, same seq and values, every batch whose receipt is overdue; each time
        it waits twice as long for the next (up to 16 × ``receipt_timeout_s``)."""
        timeout = self.config.outbox.receipt_timeout_s
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = time.monotonic()
            overdue = [a for a in list(self.awaiting.values()) if now >= a.due_at]
            for a in sorted(overdue, key=lambda a: (a.batch.channel, a.batch.seq)):
                key = (a.batch.channel, a.batch.seq)
                if self.awaiting.get(key) is a:
                    a.wait_s = min(a.wait_s * 2, timeout * 16)
                    a.due_at = time.monotonic() + a.wait_s
                    self.metrics.republished.inc()
                    await sending.send(a.batch)
            self._awaiting_metrics()

    def _window_room(self, sending: _InFlight) -> int:
        """How many more batches may be sent without a receipt: the window less those in
        flight (each moves to ``awaiting`` at its PUBACK before its slot is freed) and those
        awaiting their receipt."""
        limits = self.config.outbox
        if not limits.receipts:
            return limits.inflight
        return limits.receipt_window - len(self.awaiting) - sending.held

    async def _window_open(self, sending: _InFlight, failed: asyncio.Future[Any]) -> None:
        """With receipts: wait while ``receipt_window`` batches are in flight or await their
        receipt; the rows wait on disk meanwhile."""
        while self._window_room(sending) <= 0:
            self._receipted.clear()
            waiting = asyncio.ensure_future(self._receipted.wait())
            try:
                # a receipt makes room; so does a command ack's PUBACK (checked each second)
                await asyncio.wait(
                    (waiting, failed), timeout=1.0, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiting.cancel()
            if failed.done():
                return

    # --- forwarding ---------------------------------------------------------------------

    async def _forward(self, conn: Connection) -> None:
        limits = self.config.outbox
        self._live.clear()
        sending = _InFlight(limits.inflight, lambda batch: self._send(conn, batch))
        bucket = TokenBucket(limits.catch_up_rate, max(limits.catch_up_rate, limits.batch_size))
        watermark = await self.outbox.max_id()
        if await self.outbox.unsent(Channel.READINGS, watermark) <= limits.batch_size:
            # Not an outage's backlog, only what was read while connecting: no throttle, and
            # it goes out in order with what follows (live and backlog batches formed in one
            # round go out live first).
            watermark = 0
        self._sent_upto = watermark
        self.awaiting.clear()  # every batch without its receipt is sent again now, from disk
        for channel in (Channel.ACKS, Channel.EVENTS, Channel.READINGS):
            for batch in await self.outbox.unacked(channel):
                if channel is Channel.READINGS:
                    await bucket.take(len(batch))
                await sending.send(batch)
        failed = asyncio.ensure_future(sending.failed.wait())
        resend = None
        if limits.receipts:
            resend = asyncio.create_task(self._resend_unreceipted(sending), name="uplink-resend")
            resend.add_done_callback(_resend_done(sending))
        try:
            while True:
                sending.raise_failure()
                await sending.wait_free()
                await self._window_open(sending, failed)
                sending.raise_failure()
                try:
                    await self._send_new(sending, bucket, watermark, failed)
                except StorageError:  # the disk is full (logged once): try again in a second
                    await asyncio.sleep(1.0)
        finally:
            failed.cancel()
            if resend is not None:
                resend.cancel()

    async def _send_new(
        self,
        sending: _InFlight,
        bucket: TokenBucket,
        watermark: int,
        failed: asyncio.Future[Any],
    ) -> None:
        """Form and send the batches of each kind that has unsent rows, all formed in one
        round of the outbox: the one that stores the next polled values when none wait now."""
        size = self.config.outbox.batch_size
        # As many live batches as there are free slots (at most four); when more rows wait
        # than they hold, they grow up to the contract's limit per message.
        live_n = min(4, sending.free(), self._window_room(sending))
        # One live batch, then one backlog batch: live values are never stuck behind an
        # hours-long backlog, and the backlog still drains at its throttled rate.
        request = asyncio.ensure_future(
            self.outbox.next_batches(
                [
                    Want(Channel.ACKS, 1),
                    Want(Channel.EVENTS, size),
                    Want(Channel.READINGS, size, watermark, None, live_n, MAX_BATCH_ITEMS),
                    Want(Channel.READINGS, size, 0, watermark),
                ],
                wait=True,
            )
        )
        await asyncio.wait((request, failed), return_when=asyncio.FIRST_COMPLETED)
        if not request.done():  # a publish failed meanwhile: end the session with it
            request.cancel()
            sending.raise_failure()
        formed = request.result()
        *now, backlog = formed
        for batch in now:
            if batch is not None:
                if batch.channel is Channel.READINGS:
                    self._live[batch.seq] = _oldest_read(batch)
                    self._sent_upto = max(self._sent_upto, batch.newest_id)
                await sending.send(batch)
        if backlog is not None:
            await bucket.take(len(backlog))
            await sending.send(backlog)

    async def _send(self, conn: Connection, batch: Batch) -> Awaitable[int] | None:
        """Publish ``batch``; at its PUBACK, return the deletion of its rows (not awaited
        here, so the in-flight slot is free while the deletion waits for its commit)."""
        topic, payload = self._payload(batch)
        started = time.monotonic()
        try:
            ok = await conn.publish(topic, payload, content_type=self.encoding.content_type)
        finally:
            live = self._live.pop(batch.seq, None) if batch.channel is Channel.READINGS else None
        if not ok:
            return None
        acked_at = time.monotonic()
        if batch.channel is Channel.READINGS:
            now = now_ms()
            values: list[Value] = batch.items  # type: ignore[assignment]
            self.metrics.read_to_puback.observe_many(
                (now - v.ts) / 1000 for v in values if v.quality is not Quality.BACKFILLED
            )
            if live is not None:
                self._last_ack = (acked_at, (now - live) / 1000)
        self.metrics.publish_latency.observe(acked_at - started)
        self.metrics.published.labels(batch.channel).inc()
        if self.config.outbox.receipts and batch.channel in _RECEIPTED:
            # The rows stay (sent) until the backend's receipt names this seq.
            timeout = self.config.outbox.receipt_timeout_s
            self.awaiting.setdefault(
                (batch.channel, batch.seq), _Awaiting(acked_at, acked_at + timeout, timeout, batch)
            )
            self._awaiting_metrics()
            return None
        return self.outbox.acked(batch.channel, batch.seq)

    def _payload(self, batch: Batch) -> tuple[str, bytes]:
        if batch.channel == Channel.READINGS:
            values: list[Value] = batch.items  # type: ignore[assignment]
            msg: object = ReadingBatch(agent=self.agent, seq=batch.seq, values=values)
            return agent_topic(self.agent, Channel.READINGS), encode(msg, self.encoding)
        if batch.channel == Channel.EVENTS:
            events: list[MeterEvent] = batch.items  # type: ignore[assignment]
            msg = EventBatch(agent=self.agent, seq=batch.seq, events=events)
            return agent_topic(self.agent, Channel.EVENTS), encode(msg, self.encoding)
        ack: CommandAck = batch.items[0]  # type: ignore[assignment]
        return agent_topic(self.agent, Channel.ACKS), encode(ack, self.encoding)

    async def close(self, wait_s: float = 5.0) -> None:
        """Clean goodbye: a retained death with clean=true, then DISCONNECT (no will)."""
        self._stopping = True
        conn = self.connection
        if conn is None or conn.closed.is_set():
            return
        death = AgentDeath(agent=self.agent, ts=now_ms(), clean=True)
        try:
            await conn.goodbye(
                agent_topic(self.agent, Channel.STATE), encode(death, self.encoding), wait_s
            )
        except (ConnectionLost, TimeoutError) as exc:
            log.warning("clean goodbye not acknowledged: %s", exc)


class _Awaiting:
    """A batch the broker acknowledged, awaiting the backend's receipt."""

    __slots__ = ("batch", "due_at", "sent_at", "wait_s")

    def __init__(self, sent_at: float, due_at: float, wait_s: float, batch: Batch) -> None:
        self.sent_at = sent_at  # monotonic s of the first PUBACK
        self.due_at = due_at  # sent again at this monotonic time without a receipt
        self.wait_s = wait_s
        self.batch = batch


def _logged(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("receipted rows not deleted yet (sent again later): %s", task.exception())


def _resend_done(sending: _InFlight) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        if sending.failure is None:  # end the session with it: the next one resends from disk
            sending.failure = task.exception()
            sending.failed.set()

    return done
