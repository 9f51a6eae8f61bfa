"""One MQTT connection (paho-mqtt 2) bridged into asyncio.

A fresh paho client per connection: its message ids, and our map from them to outbox batches,
live and die with that connection (paho's mids restart per connection). paho's network thread
runs the socket; every callback is handed to the event loop with ``call_soon_threadsafe``.
Reconnecting is the caller's loop (jittered, capped), not paho's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.config import Broker, MqttProtocol

log = logging.getLogger("edge_agent.mqtt")


class ConnectionLost(Exception):
    pass


class Connection:
    """A connected session. ``publish`` returns a future resolved by that message's PUBACK."""

    def __init__(
        self,
        broker: Broker,
        client_id: str,
        username: str,
        password: str,
        will: tuple[str, bytes],
        on_message: Callable[[Connection, mqtt.MQTTMessage], None],
    ) -> None:
        self.broker = broker
        self.v5 = broker.protocol is MqttProtocol.V5
        self.loop = asyncio.get_running_loop()
        self._on_message = on_message
        self._pending: dict[int, tuple[asyncio.Future[bool], float]] = {}
        self._early: dict[int, bool] = {}
        self.connected: asyncio.Future[None] = self.loop.create_future()
        self.closed = asyncio.Event()
        self.close_reason = ""
        c = self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else False,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        if username:
            c.username_pw_set(username, password or None)
        if broker.tls:
            c.tls_set(ca_certs=broker.ca_file, cert_reqs=ssl.CERT_REQUIRED)
            c.tls_insecure_set(broker.tls_insecure)
        c.will_set(will[0], will[1], qos=1, retain=True)
        c.on_connect = self._cb_connect
        c.on_disconnect = self._cb_disconnect
        c.on_publish = self._cb_publish
        c.on_message = self._cb_message
        c.on_subscribe = lambda *_a: None

    async def open(self, wait_s: float) -> None:
        props = None
        if self.v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.broker.session_expiry_s
        # A persistent session: commands published while the link is down wait at the broker.
        kwargs: dict[str, Any] = {"clean_start": False, "properties": props} if self.v5 else {}
        await asyncio.to_thread(
            self.client.connect,
            self.broker.host,
            self.broker.port,
            self.broker.keepalive_s,
            **kwargs,
        )
        self.client.loop_start()
        try:
            await asyncio.wait_for(asyncio.shield(self.connected), wait_s)
        except BaseException:
            self.abort()
            raise

    def _cb_connect(self, _c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        def done() -> None:
            if self.connected.done():
                return
            if rc.is_failure:
                self.connected.set_exception(ConnectionRefusedError(f"CONNACK: {rc}"))
            else:
                self.connected.set_result(None)

        self.loop.call_soon_threadsafe(done)

    def _cb_disconnect(self, _c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        self.loop.call_soon_threadsafe(self._lost, f"disconnected: {rc}")

    def _lost(self, reason: str) -> None:
        if not self.closed.is_set():
            self.close_reason = reason
            self.closed.set()
        if not self.connected.done():
            self.connected.set_exception(ConnectionLost(reason))
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLost(reason))
        self._pending.clear()

    def _cb_publish(self, _c: object, _u: object, mid: int, rc: Any, _p: object) -> None:
        ok = not rc.is_failure
        self.loop.call_soon_threadsafe(self._acked, mid, ok, str(rc))

    def _acked(self, mid: int, ok: bool, reason: str) -> None:
        entry = self._pending.pop(mid, None)
        if entry is None:  # PUBACK raced ahead of publish() returning: keep it for a moment
            self._early[mid] = ok
            return
        fut, _ = entry
        if not fut.done():
            if not ok:
                log.error("broker refused a publish (mid %d): %s", mid, reason)
            fut.set_result(ok)

    def _cb_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.loop.call_soon_threadsafe(self._on_message, self, msg)

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, content_type: str = ""
    ) -> asyncio.Future[bool]:
        """Queue a QoS 1 publish; the future says True on a successful PUBACK, False when the
        broker refused it (MQTT 5 reason code), and raises ConnectionLost if the link dropped."""
        if self.closed.is_set():
            raise ConnectionLost(self.close_reason)
        props = None
        if self.v5 and content_type:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ContentType = content_type
        info = self.client.publish(topic, payload, qos=1, retain=retain, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._lost(f"publish failed: {mqtt.error_string(info.rc)}")
            raise ConnectionLost(self.close_reason)
        fut: asyncio.Future[bool] = self.loop.create_future()
        if info.mid in self._early:
            fut.set_result(self._early.pop(info.mid))
        else:
            self._pending[info.mid] = (fut, time.monotonic())
        return fut

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)

    def ack_message(self, msg: mqtt.MQTTMessage) -> None:
        """PUBACK an incoming command, after it is persisted. A no-op on a dead connection:
        the broker then delivers it again in the next session and it is de-duplicated."""
        if not self.closed.is_set():
            self.client.ack(msg.mid, msg.qos)

    async def goodbye(self, topic: str, payload: bytes, wait_s: float = 5.0) -> None:
        """Publish the clean death (retained), wait for its PUBACK, then disconnect normally
        so the broker drops the last will."""
        try:
            await asyncio.wait_for(self.publish(topic, payload, retain=True), wait_s)
        finally:
            self.client.disconnect()
            await asyncio.to_thread(self.client.loop_stop)
            self._lost("closed")

    def abort(self) -> None:
        """Drop the connection without DISCONNECT (the broker will send the will)."""
        self._lost("aborted")
        sock = self.client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self.client.loop_stop()
