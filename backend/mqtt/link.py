"""One connection of the backend's MQTT session: paho-mqtt 2 driven by the asyncio loop, with
manual acknowledgement in the order messages were received, and QoS 1 publishing that resolves
on the broker's PUBACK.

Why paho runs inside the event loop (``loop_read``/``loop_write`` on socket readiness) rather
than in its own thread: every received message is handed straight to the writer without a
thread hop, and ``ack`` is called from the same thread that owns the socket, so nothing needs
a lock. Only the blocking TCP connect runs in an executor; the socket callbacks it triggers are
marshalled back onto the loop.

A fresh paho client per connection (a ``Link``): message ids belong to one connection, so a
message received on a link that has since closed is never acknowledged on its successor — the
broker redelivers it there instead, and the duplicate is counted, not stored twice.

Several consumers share the link (ingestion, command dispatch), each acknowledging its own
messages after its own commit. MQTT wants PUBACKs in the order the PUBLISHes came
[MQTT-4.6.0-2], so the link holds an acknowledgement back until every message received before
it has been acknowledged too, then writes the run in one ``send``.

The session is persistent (MQTT 5 ``clean_start=False`` with a session expiry; 3.1.1
``clean_session=False``) under a stable client id, so QoS 1 messages that arrive while the
backend restarts wait in the broker and are delivered when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from backend.mqtt.lean import READ_AHEAD, LeanClient
from backend.settings import MqttEndpoint
from protocols.contract import MAX_RECEIPT_SEQS, Channel, Receipt, agent_topic, encode

log = logging.getLogger("meterline.mqtt")

# How long the broker keeps our session (and the QoS 1 messages queued for it) while no
# backend process is connected. Agents delete a reading once the broker has it, so an expired
# session would lose data: a week covers any outage we would not notice.
SESSION_EXPIRY_S = 7 * 24 * 3600
UNSUPPORTED_PROTOCOL = 0x84


class ConnectError(Exception):
    """The broker refused the connection, or did not answer in time."""

    def __init__(self, reason: str, *, unsupported_protocol: bool = False) -> None:
        super().__init__(reason)
        self.unsupported_protocol = unsupported_protocol


# (link, topic or None when not UTF-8, payload, mid, qos, receipt time.monotonic())
OnMessage = Callable[["Link", str | None, bytes, int, int, float], None]


class Link:
    """One connection to the broker: a paho client whose socket the event loop drives."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        *,
        v5: bool,
        receive_maximum: int,
        on_message: OnMessage,
        keepalive_s: int = 30,
        clean: bool = False,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.endpoint = endpoint
        self.v5 = v5
        self.keepalive_s = keepalive_s
        self.receive_maximum = receive_maximum
        self.clean = clean  # start afresh, and let the session end with the connection
        self.session_present = False
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.paused = False
        self.received = 0
        self.receipts_sent = 0  # Receipt messages published (docs/edge-agent.md, "Outbox")
        self._on_message = on_message
        self._connack: asyncio.Future[None] = self.loop.create_future()
        self._subacks: dict[int, tuple[list[str], asyncio.Future[None]]] = {}
        self._pubacks: dict[int, asyncio.Future[None]] = {}  # our QoS 1 publishes in flight
        self._unacked: deque[int] = deque()  # QoS 1 message ids received, in order
        self._acked: set[int] = set()  # acknowledged by their consumer, waiting for older ones
        self._sock: Any = None
        self._misc: asyncio.TimerHandle | None = None
        self._loop_thread = threading.get_ident()
        c = self.client = LeanClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else clean,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        if endpoint.username is not None:
            c.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            c.tls_set_context(ssl.create_default_context())
        c.on_connect = self._handle_connect
        c.on_disconnect = self._handle_disconnect
        c.on_subscribe = self._handle_subscribe
        c.on_publish = self._handle_puback
        c.on_message = self._handle_message  # QoS 2 only (never, with QoS 1 subscriptions)
        c.on_publish_received = self._deliver
        c.on_socket_open = self._socket_open
        c.on_socket_close = self._socket_close
        c.on_socket_register_write = self._socket_want_write
        c.on_socket_unregister_write = self._socket_done_writing

    # --- connecting ---------------------------------------------------------------------

    async def open(self, timeout_s: float = 10.0) -> None:
        """Connect and wait for a successful CONNACK, or raise ConnectError."""
        props = None
        if self.v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0 if self.clean else SESSION_EXPIRY_S
            # The broker sends at most this many unacknowledged QoS 1 messages: our bound on
            # what sits in memory waiting for a commit (3.1.1 brokers use their own limit).
            props.ReceiveMaximum = self.receive_maximum
        connect = functools.partial(
            self.client.connect,
            self.endpoint.host,
            self.endpoint.port,
            keepalive=self.keepalive_s,
            clean_start=self.clean if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        try:
            await asyncio.wait_for(self.loop.run_in_executor(None, connect), timeout_s)
        except (OSError, TimeoutError, socket.gaierror) as exc:
            self.abort()
            raise ConnectError(f"{type(exc).__name__}: {exc}") from None
        try:
            await asyncio.wait_for(asyncio.shield(self._connack), timeout_s)
        except TimeoutError:
            self.abort()
            # Some 3.1.1-only brokers (amqtt) choke on an MQTT 5 CONNECT's properties and
            # never answer; others refuse it with a CONNACK. Either way: try 3.1.1.
            raise ConnectError(
                f"no CONNACK within {timeout_s:g}s", unsupported_protocol=self.v5
            ) from None
        except ConnectError:
            self.abort()
            raise

    def _handle_connect(self, _c: Any, _u: Any, flags: Any, rc: ReasonCode, _props: Any) -> None:
        if self._connack.done():
            return
        if rc.is_failure:
            self._connack.set_exception(
                ConnectError(
                    f"broker refused the connection: {rc}",
                    unsupported_protocol=rc.value == UNSUPPORTED_PROTOCOL,
                )
            )
        else:
            self.session_present = bool(flags.session_present)
            self._connack.set_result(None)

    def _handle_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self.close_reason = self.close_reason or str(rc)
        if not self._connack.done():
            # A 3.1.1-only broker may simply hang up on an MQTT 5 CONNECT.
            self._connack.set_exception(
                ConnectError(f"connection closed before CONNACK: {rc}", unsupported_protocol=True)
            )
        self._mark_closed()

    # --- subscribing --------------------------------------------------------------------

    def subscribe(self, filters: Sequence[str]) -> asyncio.Future[None]:
        """Send SUBSCRIBE (QoS 1); the future resolves on the SUBACK, or fails with
        ConnectError when a filter is refused or the connection closes first."""
        if self.v5:
            opts = SubscribeOptions(qos=1)
            result, mid = self.client.subscribe([(f, opts) for f in filters])
        else:
            result, mid = self.client.subscribe([(f, 1) for f in filters])
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectError(f"SUBSCRIBE could not be sent: {mqtt.error_string(result)}")
        fut: asyncio.Future[None] = self.loop.create_future()
        self._subacks[mid] = (list(filters), fut)
        return fut

    def unsubscribe(self, filters: Sequence[str]) -> None:
        self.client.unsubscribe(list(filters))

    def _handle_subscribe(
        self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any
    ) -> None:
        filters, fut = self._subacks.pop(mid, ([], None))
        if fut is None or fut.done():
            return
        refused = [f"{f}: {rc}" for f, rc in zip(filters, codes, strict=False) if rc.is_failure]
        if refused:
            fut.set_exception(ConnectError("subscription refused: " + "; ".join(refused)))
        else:
            fut.set_result(None)

    # --- receiving and acknowledging ----------------------------------------------------

    def _deliver(self, topic: str | None, payload: bytes, mid: int, qos: int) -> None:
        self.received += 1
        if qos == 1:
            self._unacked.append(mid)
        self._on_message(self, topic, payload, mid, qos, time.monotonic())

    def _handle_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic: str | None = msg.topic
        except UnicodeDecodeError:
            topic = None
        self._deliver(topic, bytes(msg.payload), msg.mid, msg.qos)

    def ack(self, mids: Sequence[int]) -> bool:
        """Acknowledge these QoS 1 messages (their consumer has committed them). The PUBACKs
        leave in receipt order, in one write, once every older message is acknowledged too.
        False when this link is gone (the broker redelivers them on the next connection)."""
        if self.closed.is_set():
            return False
        unacked, acked = self._unacked, self._acked
        acked.update(mids)
        ready: list[int] = []
        while unacked and unacked[0] in acked:
            mid = unacked.popleft()
            acked.discard(mid)
            ready.append(mid)
        if ready:
            self.client.queue_pubacks(ready)
        return True

    def forget(self, mid: int) -> None:
        """Leave a received message unacknowledged for good (no consumer takes it): it stays
        with the broker, and no later PUBACK waits for it."""
        with contextlib.suppress(ValueError):
            self._unacked.remove(mid)
        self.ack([])

    # --- publishing ---------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes) -> asyncio.Future[None]:
        """PUBLISH at QoS 1; the future resolves on the broker's PUBACK, or fails with
        ConnectError when the broker refuses it or the connection closes first."""
        fut: asyncio.Future[None] = self.loop.create_future()
        if self.closed.is_set():
            fut.set_exception(ConnectError("not connected"))
            return fut
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            fut.set_exception(ConnectError(f"PUBLISH not sent: {mqtt.error_string(info.rc)}"))
        else:
            self._pubacks[info.mid] = fut
        return fut

    def receipt(self, taken: Iterable[tuple[str | None, Channel | None, int | None]]) -> int:
        """Tell each agent which of its batches were just committed (or stored as dead
        letters): one Receipt per agent per call — the writer calls it once per commit round,
        after the commit — split only past ``MAX_RECEIPT_SEQS`` seqs a channel. Published at
        QoS 1 without waiting: a receipt lost on the way only means the agent sends the batch
        again, which the backend stores by natural key (a repeat changes nothing). Returns how
        many messages went out."""
        per_agent: dict[str, dict[Channel, list[int]]] = {}
        for agent, channel, seq in taken:
            if agent is None or seq is None or channel not in _RECEIPTED:
                continue  # not a batch (a state, or undecodable): nothing to receipt
            per_agent.setdefault(agent, {}).setdefault(channel, []).append(seq)
        sent = 0
        if self.closed.is_set():
            return sent
        ts = time.time_ns() // 1_000_000
        for agent, channels in per_agent.items():
            readings = sorted(set(channels.get(Channel.READINGS, [])))
            events = sorted(set(channels.get(Channel.EVENTS, [])))
            n = MAX_RECEIPT_SEQS
            for i in range(0, max(len(readings), len(events)), n):
                msg = Receipt(
                    agent=agent, ts=ts, readings=readings[i : i + n], events=events[i : i + n]
                )
                fut = self.publish(agent_topic(agent, Channel.RECEIPTS), encode(msg))
                fut.add_done_callback(_quiet)
                sent += 1
        self.receipts_sent += sent
        return sent

    def _handle_puback(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        fut = self._pubacks.pop(mid, None)
        if fut is None or fut.done():
            return
        if rc.is_failure:
            fut.set_exception(ConnectError(f"broker refused the message: {rc}"))
        else:
            fut.set_result(None)

    def pause(self) -> None:
        """Stop reading: messages not yet read stay with the broker (unacknowledged)."""
        self.paused = True
        if self._sock is not None:
            self.loop.remove_reader(self._sock)

    def resume(self) -> None:
        if self.paused and not self.closed.is_set():
            self.paused = False
            if self._sock is not None:
                self.loop.add_reader(self._sock, self._readable)
                self.loop.call_soon(self._readable)  # TLS may hold decrypted bytes already

    async def close(self, timeout_s: float = 5.0) -> None:
        """DISCONNECT after every queued PUBACK has been written, then wait for the broker to
        hang up (reading and dropping whatever it still sends: unacknowledged, it stays in the
        session), so that it reads all of ours first; the session stays."""
        if self.closed.is_set():
            return
        self.pause()
        if not self._connack.done() or self._connack.exception() is not None:
            self.abort()  # not connected: nothing to say goodbye to
            return
        done = self.loop.create_future()
        self.client.on_goodbye = lambda sock: self._goodbye(sock, done)
        self.client.disconnect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), timeout_s)
        self.abort()
        if not done.done():
            done.cancel()

    def _goodbye(self, sock: Any, done: asyncio.Future[None]) -> None:
        """DISCONNECT is out: half-close, read to the broker's end of the stream, close."""

        def finish() -> None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(sock)
            with contextlib.suppress(OSError):
                sock.close()
            if not done.done():
                done.set_result(None)

        def readable() -> None:
            try:
                while sock.recv(READ_AHEAD):
                    pass
            except (BlockingIOError, InterruptedError):
                return  # more later
            except OSError:
                pass
            finish()  # end of stream (or the connection is gone)

        try:
            sock.shutdown(socket.SHUT_WR)
            self.loop.add_reader(sock, readable)
        except (OSError, ValueError):
            finish()
            return
        done.add_done_callback(lambda _f: finish())

    def abort(self) -> None:
        """Drop the socket without a DISCONNECT (the broker keeps the session)."""
        if self._sock is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self._sock)
                self.loop.remove_writer(self._sock)
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        self._mark_closed()

    def _mark_closed(self) -> None:
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None
        if not self.closed.is_set():
            self.closed.set()
        for _filters, fut in self._subacks.values():
            if not fut.done():
                fut.set_exception(ConnectError("connection closed before SUBACK"))
        for fut in self._pubacks.values():
            if not fut.done():
                fut.set_exception(ConnectError("connection closed before PUBACK"))
        self._pubacks.clear()

    # --- socket callbacks: paho asks, the event loop does --------------------------------

    def _in_loop(self, fn: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:  # the blocking connect runs in an executor thread
            self.loop.call_soon_threadsafe(fn, *args)

    def _socket_open(self, _c: Any, _u: Any, sock: Any) -> None:
        self._in_loop(self._add_socket, sock)

    def _add_socket(self, sock: Any) -> None:
        self._sock = sock
        if not self.paused:
            self.loop.add_reader(sock, self._readable)
        self._misc = self.loop.call_later(1.0, self._tick)

    def _socket_close(self, _c: Any, _u: Any, sock: Any) -> None:
        self._in_loop(self._drop_socket, sock)

    def _drop_socket(self, sock: Any) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
        if sock is self._sock:
            self._sock = None
        self.close_reason = self.close_reason or "socket closed"
        self._mark_closed()

    def _socket_want_write(self, _c: Any, _u: Any, sock: Any) -> None:
        self._in_loop(self._add_writer, sock)

    def _add_writer(self, sock: Any) -> None:
        with contextlib.suppress(ValueError, OSError):  # closed meanwhile
            self.loop.add_writer(sock, self.client.loop_write)

    def _socket_done_writing(self, _c: Any, _u: Any, sock: Any) -> None:
        self._in_loop(self._remove_writer, sock)

    def _remove_writer(self, sock: Any) -> None:
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_writer(sock)

    def _readable(self) -> None:
        # paho parses one packet per loop_read: go on while packets come (bounded, so a flood
        # cannot starve the writer task) instead of one event-loop turn per message. Stop when
        # a read delivered nothing and nothing is buffered: readiness brings us back.
        client = self.client
        for _ in range(512):
            before = self.received
            rc = client.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS or self._sock is None or self.paused:
                return
            if self.received == before and not client.buffered():
                break
        else:
            if client.buffered():  # budget spent with packets in hand: after other tasks
                self.loop.call_soon(self._readable)
                return
        pending = getattr(self._sock, "pending", None)
        if pending is not None and pending() > 0:  # TLS: decrypted bytes select cannot see
            self.loop.call_soon(self._readable)

    def _tick(self) -> None:
        self._misc = None
        if self._sock is None:
            return
        self.client.loop_misc()  # keepalive: PINGREQ, and a dead broker is noticed
        if self._sock is not None:
            self._misc = self.loop.call_later(1.0, self._tick)


_RECEIPTED = (Channel.READINGS, Channel.EVENTS)


def _quiet(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.debug("receipt not confirmed: %s", fut.exception())
