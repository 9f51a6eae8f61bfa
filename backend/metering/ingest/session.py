"""Keep one MQTT session subscribed: connect, fall back to 3.1.1, resubscribe, reconnect.

Subscriptions: ``readings`` and ``events`` through ``$share/{group}/…`` when a share group is
set (the broker splits the stream between the processes of the group), plain otherwise.
``state`` is always a plain subscription: agent births and deaths are few, every process may
apply them (they are idempotent), and MQTT 5 does not send retained messages to a new shared
subscription — a plain one gets the retained state of every agent on each (re)subscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from backend.metering.ingest.mqtt import ConnectError, Link, OnMessage, backoff_delay
from backend.settings import MqttEndpoint
from protocols.contract import Channel, subscription

log = logging.getLogger("meterline.ingest.mqtt")


def filters(share_group: str | None) -> tuple[list[str], list[str]]:
    """(filters to subscribe, plain filters to drop from a persistent session)."""
    group = share_group or None
    wanted = [
        subscription(Channel.READINGS, share_group=group),
        subscription(Channel.EVENTS, share_group=group),
        subscription(Channel.STATE),
    ]
    # A session that once subscribed without the group would get every message twice.
    stale = [subscription(Channel.READINGS), subscription(Channel.EVENTS)] if group else []
    return wanted, stale


class Subscriber:
    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        *,
        share_group: str | None,
        receive_maximum: int,
        on_message: OnMessage,
        on_connected: Callable[[Link], None] | None = None,
        leave: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self.share_group = share_group or None
        self.receive_maximum = receive_maximum
        self.on_message = on_message
        self.on_connected = on_connected
        # leaving: subscribe to nothing and drop our filters, so the broker routes nothing new
        # to this session and only delivers what it had queued for it
        self.leave = leave
        self.connected_at = 0.0
        self.v5 = True  # until the broker says it speaks only 3.1.1
        self.link: Link | None = None
        self.status = "connecting"
        self.sessions_lost = 0
        self.connected = asyncio.Event()
        self._stopping = False
        self._paused = False  # for good: shutting down
        self._throttled = False  # for now: the writer has enough in hand
        self._had_session = False
        self._wakeup = asyncio.Event()

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
            attempt = 0 if time.monotonic() - started > 60 else attempt + 1
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), backoff_delay(attempt, 0.2, 30.0))
        self.status = "stopped"

    async def _session(self) -> None:
        link = Link(
            self.endpoint,
            self.client_id,
            v5=self.v5,
            receive_maximum=self.receive_maximum,
            on_message=self.on_message,
        )
        # Flow control reaches the link from the start: a resumed session's queue arrives right
        # behind the CONNACK, before open() has even returned.
        self.link = link
        if self._throttled:
            link.pause()
        try:
            await link.open(timeout_s=5.0)
            if self._paused:
                return
            wanted, stale = filters(self.share_group)
            if self.leave:
                link.unsubscribe(wanted + stale)
                suback: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                suback.set_result(None)
            else:
                if stale and link.session_present:
                    link.unsubscribe(stale)
                suback = link.subscribe(wanted)
            if self.on_connected is not None:
                self.on_connected(link)
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
                "MQTT connected to %s:%d as %s (MQTT %s%s)",
                self.endpoint.host,
                self.endpoint.port,
                self.client_id,
                "5" if link.v5 else "3.1.1",
                f", shared group {self.share_group!r}" if self.share_group else "",
            )
            await link.closed.wait()
            if not self._stopping:
                log.warning("MQTT connection lost: %s", link.close_reason)
        finally:
            link.abort()

    def pause(self) -> None:
        """Read no further messages (unread ones stay with the broker, unacknowledged)."""
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
