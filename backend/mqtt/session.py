"""The backend's one MQTT session: connect, fall back to 3.1.1, subscribe every consumer's
filters, route messages to their consumer, publish, reconnect.

A process has one: ingestion (readings, events, state) and command dispatch (acks) each add a
``Route`` before it starts, and command dispatch publishes through it. Each consumer
acknowledges its own messages after its own commit; the link sends the PUBACKs in receipt
order (``backend.mqtt.link``).

Connection: MQTT 5 first (``clean_start=False`` with a 7-day session expiry, Receive Maximum);
a broker that refuses it, or never answers its CONNECT (amqtt, the demo's in-process broker),
is spoken to in MQTT 3.1.1 (``clean_session=False``) until the process restarts. Reconnects
use ``protocols.backoff``.

Stopping: ``pause`` stops reading for good (whatever was not read stays with the broker); each
consumer then commits and acknowledges what it holds; ``close`` sends the PUBACKs and
DISCONNECT. The session stays on the broker for the next process; ``end_session`` deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from backend.mqtt.link import ConnectError, Link, OnMessage
from backend.settings import MqttEndpoint, Settings
from protocols.backoff import backoff_delay, next_attempt
from protocols.contract import Channel

log = logging.getLogger("meterline.mqtt")


def default_client_id(settings: Settings, role: Literal["api", "ingest"]) -> str:
    """Stable across restarts (so the broker keeps our session and queue), distinct per host,
    data directory and role, so two processes never take over each other's session."""
    if settings.mqtt_client_id:
        return settings.mqtt_client_id
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32]
    place = hashlib.sha256(str(Path(settings.data_dir).resolve()).encode()).hexdigest()[:8]
    return f"meterline-{role}-{host}-{place}"


def receive_maximum(settings: Settings) -> int:
    """QoS 1 messages the broker may send before our first PUBACK (MQTT 5): a full ingestion
    batch being committed plus a full one filling behind it."""
    return min(65535, max(100, 2 * settings.ingest_batch_size))


@dataclass
class Route:
    """A consumer: the channels it takes, the filters that bring them, where they go."""

    channels: frozenset[Channel]
    filters: list[str]
    on_message: OnMessage
    # filters an older configuration of this consumer may have left in a persistent session
    # (say, plain ones before a share group was set): dropped when the session is resumed
    stale: list[str] = field(default_factory=list)
    on_connected: Callable[[Link], None] | None = None
    # also takes messages on channels no route names (ingestion: it dead-letters them,
    # visibly); without such a route they stay with the broker, unacknowledged
    takes_the_rest: bool = False


class MqttSession:
    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        *,
        receive_maximum: int,
        leave: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self.receive_maximum = receive_maximum
        # leaving: subscribe to nothing and drop our filters, so the broker routes nothing new
        # to this session and only delivers what it had queued for it
        self.leave = leave
        self.routes: list[Route] = []
        self._by_channel: dict[str, Route] = {}
        self._rest: Route | None = None
        self.connected_at = 0.0
        self.v5 = True  # until the broker says it speaks only 3.1.1
        self.link: Link | None = None
        self.status = "connecting"
        self.sessions_lost = 0
        self.unrouted = 0  # messages no consumer here takes: left with the broker
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._paused = False  # for good: shutting down
        self._throttled = False  # for now: ingestion has enough in hand
        self._had_session = False
        self._wakeup = asyncio.Event()

    # --- consumers ----------------------------------------------------------------------

    def add_route(self, route: Route) -> None:
        """Take ``route.channels`` to ``route.on_message``; only before ``start``."""
        if self._task is not None:
            raise RuntimeError("add every route before the MQTT session starts")
        taken = [c for c in route.channels if c.value in self._by_channel]
        if taken:
            raise ValueError(f"channels already routed: {', '.join(sorted(taken))}")
        self.routes.append(route)
        for channel in route.channels:
            self._by_channel[channel.value] = route
        if route.takes_the_rest:
            self._rest = route

    def _route(
        self, link: Link, topic: str | None, payload: bytes, mid: int, qos: int, at: float
    ) -> None:
        route = self._by_channel.get(topic.rpartition("/")[2] if topic else "", self._rest)
        if route is None:
            self.unrouted += 1
            if qos:
                link.forget(mid)
            log.warning("MQTT: no consumer here for a message on %r: left with the broker", topic)
            return
        route.on_message(link, topic, payload, mid, qos, at)

    # --- running ------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="mqtt")

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._session()
            except ConnectError as exc:
                if exc.unsupported_protocol and self.v5:
                    # kept until the process restarts: a broker that answers 3.1.1 but not 5
                    # will not learn MQTT 5 meanwhile
                    log.info("broker refuses MQTT 5 (%s): using MQTT 3.1.1", exc)
                    self.v5 = False
                    continue
                log.warning("MQTT %s:%d: %s", self.endpoint.host, self.endpoint.port, exc)
            except (OSError, TimeoutError) as exc:
                log.warning("MQTT %s:%d: %s", self.endpoint.host, self.endpoint.port, exc)
            finally:
                self.connected.clear()
                self.link = None
                if not self._stopping:
                    self.status = "disconnected"
            if self._stopping:
                break
            held = time.monotonic() - self.connected_at if self.connected_at >= started else None
            attempt = next_attempt(attempt, held)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                delay = backoff_delay(attempt, 0.2, 30.0, random.random())
                await asyncio.wait_for(self._wakeup.wait(), delay)
        self.status = "stopped"

    def _filters(self) -> tuple[list[str], list[str]]:
        wanted = [f for r in self.routes for f in r.filters]
        stale = [f for r in self.routes for f in r.stale if f not in wanted]
        return wanted, stale

    async def _session(self) -> None:
        link = Link(
            self.endpoint,
            self.client_id,
            v5=self.v5,
            receive_maximum=self.receive_maximum,
            on_message=self._route,
        )
        # Flow control reaches the link from the start: a resumed session's queue arrives right
        # behind the CONNACK, before open() has even returned.
        self.link = link
        if self._throttled or self._paused:
            link.pause()
        try:
            await link.open(timeout_s=5.0)
            if self._paused:
                return
            suback = self._subscribe(link)
            for route in self.routes:
                if route.on_connected is not None:
                    route.on_connected(link)
            # A resumed session delivers its queue at once, ahead of the SUBACK, which may then
            # wait behind messages that flow control leaves unread: no timeout here (a dead
            # broker is noticed by the keepalive and closes the link).
            closed = asyncio.ensure_future(link.closed.wait())
            waiters: set[asyncio.Future[Any]] = {suback, closed}
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
            if not suback.done():
                suback.cancel()
                raise ConnectError(f"connection lost before SUBACK: {link.close_reason}")
            suback.result()  # raises when the broker refused a filter
            self._connected(link)
            await link.closed.wait()
            if not self._stopping:
                log.warning("MQTT connection lost: %s", link.close_reason)
        finally:
            link.abort()

    def _subscribe(self, link: Link) -> asyncio.Future[None]:
        wanted, stale = self._filters()
        if self.leave or not wanted:
            if self.leave:
                link.unsubscribe(wanted + stale)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        if stale and link.session_present:
            link.unsubscribe(stale)
        return link.subscribe(wanted)

    def _connected(self, link: Link) -> None:
        if not link.session_present and self._had_session:
            self.sessions_lost += 1
            log.warning(
                "MQTT session %s is new: messages published while no session existed were"
                " not queued for us (the broker lost or expired it)",
                self.client_id,
            )
        elif not link.session_present:
            log.info("MQTT session %s created (none existed on the broker)", self.client_id)
        self._had_session = True
        self.status = "leaving" if self.leave else "connected"
        self.connected_at = time.monotonic()
        self.connected.set()
        log.info(
            "MQTT connected to %s:%d as %s (MQTT %s; %s)",
            self.endpoint.host,
            self.endpoint.port,
            self.client_id,
            "5" if link.v5 else "3.1.1",
            ", ".join(self._filters()[0]) or "no subscriptions",
        )

    # --- publishing ---------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, timeout_s: float = 10.0) -> bool:
        """PUBLISH at QoS 1 and wait for the broker's PUBACK: True once it has the message,
        False when it did not say so in time (not connected, refused, connection lost)."""
        link = self.link
        if link is None or not self.connected.is_set():
            return False
        try:
            await asyncio.wait_for(link.publish(topic, payload), timeout_s)
        except (ConnectError, TimeoutError) as exc:
            log.warning("MQTT publish to %s not confirmed: %s", topic, exc)
            return False
        return True

    # --- flow control and stopping ------------------------------------------------------

    def pause(self) -> None:
        """Read no further messages, for good (unread ones stay with the broker,
        unacknowledged): the first step of stopping."""
        self._paused = True
        if self.link is not None:
            self.link.pause()

    def throttle(self, on: bool) -> None:
        """Flow control: while on, leave further messages in the socket and the broker (TCP
        backpressure) instead of in our memory, so a message waits for its commit only behind
        what is already in hand."""
        self._throttled = on
        link = self.link
        if link is None or self._paused:
            return
        if on:
            link.pause()
        else:
            link.resume()

    async def end_session(self) -> None:
        """Delete our session on the broker (queue and subscriptions): connect once with a
        clean start and a session that ends with the connection."""
        link = Link(
            self.endpoint,
            self.client_id,
            v5=self.v5,
            receive_maximum=self.receive_maximum,
            on_message=lambda *_: None,
            clean=True,
        )
        await link.open(timeout_s=5.0)
        await link.close()
        log.info("MQTT session %s deleted from the broker", self.client_id)

    async def close(self) -> None:
        """Disconnect cleanly (acknowledgements queued before this are sent first)."""
        self._stopping = True
        self._wakeup.set()
        link = self.link
        if link is not None:
            await link.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 10)
            self._task = None
