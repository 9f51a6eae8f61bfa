"""The uplink: keep an MQTT session up and drain the outbox through it.

Per connection: publish the birth (retained), subscribe to our commands, resend every batch
formed earlier whose PUBACK never came (same seq, same values), then forward new batches. Up
to ``outbox.inflight`` batches are in flight; each one's rows are deleted on *its* PUBACK.

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

import paho.mqtt.client as mqtt

from edge_agent import __version__
from edge_agent.config import AgentConfig
from edge_agent.config import Encoding as ConfigEncoding
from edge_agent.metrics import Metrics
from edge_agent.mqtt import Connection, ConnectionLost
from edge_agent.outbox import ACKS, EVENTS, READINGS, Batch, Outbox, now_ms
from edge_agent.secrets import read_password
from protocols.backoff import backoff_delay
from protocols.contract import (
    AgentBirth,
    AgentDeath,
    Channel,
    CommandAck,
    Encoding,
    EventBatch,
    MeterEvent,
    MeterInfo,
    ReadingBatch,
    Value,
    agent_topic,
    encode,
)

log = logging.getLogger("edge_agent.uplink")

CommandHandler = Callable[[bytes], Awaitable[None]]


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
        self.encoding = (
            Encoding.MSGPACK if config.broker.encoding is ConfigEncoding.MSGPACK else Encoding.JSON
        )
        self.wakeup = asyncio.Event()
        self.connection: Connection | None = None
        self.connected_once = asyncio.Event()
        self._stopping = False

    def notify(self) -> None:
        """New rows in the outbox: wake the forwarder."""
        self.wakeup.set()

    async def run(self) -> None:
        attempt = 0
        broker = self.config.broker
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._session()
            except (OSError, ConnectionLost, TimeoutError, ConnectionRefusedError) as exc:
                log.warning("MQTT %s:%d: %s", broker.host, broker.port, exc or type(exc).__name__)
            finally:
                self.metrics.mqtt_connected.set(0)
                self.connection = None
            if self._stopping:
                break
            attempt = 0 if time.monotonic() - started > 60 else attempt + 1
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
        self.metrics.mqtt_connected.set(1)
        log.info("MQTT connected to %s:%d", self.config.broker.host, self.config.broker.port)
        conn.subscribe(agent_topic(self.agent, Channel.COMMANDS))
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
        async def handle() -> None:
            try:
                await self.on_command(bytes(msg.payload))
            except Exception:
                log.exception("command handling failed; not acknowledged, the broker resends")
                return
            conn.ack_message(msg)

        asyncio.get_running_loop().create_task(handle(), name="command-intake")

    # --- forwarding ---------------------------------------------------------------------

    async def _forward(self, conn: Connection) -> None:
        limits = self.config.outbox
        slots = asyncio.Semaphore(limits.inflight)
        tasks: set[asyncio.Task[None]] = set()
        bucket = TokenBucket(limits.catch_up_rate, max(limits.catch_up_rate, limits.batch_size))

        async def send(batch: Batch) -> None:
            await slots.acquire()
            task = asyncio.create_task(self._send(conn, batch, slots), name="uplink-send")
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        watermark = await self.outbox.max_id()
        for channel in (ACKS, EVENTS, READINGS):
            for batch in await self.outbox.unacked(channel):
                if channel == READINGS:
                    await bucket.take(len(batch))
                await send(batch)
        while True:
            for t in list(tasks):
                if t.done() and t.exception():
                    raise t.exception()  # type: ignore[misc]
            self.wakeup.clear()
            sent = False
            for channel, size in ((ACKS, 1), (EVENTS, limits.batch_size)):
                formed = await self.outbox.next_batch(channel, size)
                if formed is not None:
                    await send(formed)
                    sent = True
            # One live batch, then one backlog batch: live values are never stuck behind an
            # hours-long backlog, and the backlog still drains at its throttled rate.
            live = await self.outbox.next_batch(READINGS, limits.batch_size, after_id=watermark)
            if live is not None:
                await send(live)
                sent = True
            backlog = await self.outbox.next_batch(READINGS, limits.batch_size, upto_id=watermark)
            if backlog is not None:
                await bucket.take(len(backlog))
                await send(backlog)
                sent = True
            if not sent:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel
                # that lands as the event is set, and this loop would then never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self.wakeup.wait()

    async def _send(self, conn: Connection, batch: Batch, slots: asyncio.Semaphore) -> None:
        try:
            topic, payload = self._payload(batch)
            started = time.monotonic()
            ok = await conn.publish(topic, payload, content_type=self.encoding.content_type)
            if ok:
                await self.outbox.acked(batch.channel, batch.seq)
                self.metrics.publish_latency.observe(time.monotonic() - started)
                self.metrics.published.labels(batch.channel).inc()
        finally:
            slots.release()

    def _payload(self, batch: Batch) -> tuple[str, bytes]:
        if batch.channel == READINGS:
            values: list[Value] = batch.items  # type: ignore[assignment]
            msg: object = ReadingBatch(agent=self.agent, seq=batch.seq, values=values)
            return agent_topic(self.agent, Channel.READINGS), encode(msg, self.encoding)
        if batch.channel == EVENTS:
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
