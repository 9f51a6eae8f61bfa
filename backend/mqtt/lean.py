"""paho-mqtt's client with a leaner receive path for a high-rate QoS 1 subscriber.

paho does everything else — connect, authentication, TLS, subscribe, keepalive, disconnect.
Three hot spots are replaced, measured on one reading per message (2 vCPU):

- reading: paho asks the socket for 1 byte (packet type), 1 byte per length byte, then the
  rest — three system calls per message — and keeps its parsing state in a dict rebuilt per
  packet. Here ``_sock_recv`` reads ahead 64 KiB, and a PUBLISH that is whole in that buffer
  is parsed in place.
- PUBLISH: paho decodes the MQTT 5 properties into a ``Properties`` object (about 25 µs per
  message) and wraps everything in an ``MQTTMessage``. The contract ignores PUBLISH properties
  (the content type is advisory: the payload's first byte tells the encoding), so QoS 0/1
  PUBLISHes skip them and go straight to ``on_publish_received(topic, payload, mid, qos)``.
- PUBACK: paho writes each acknowledgement with its own ``send``; ``queue_pubacks`` writes a
  committed batch's acknowledgements, in order, as one buffer (MQTT 5 and 3.1.1 alike accept the
  two-byte PUBACK: success, no properties).
- Goodbye: paho closes the socket as soon as its DISCONNECT is written. If the broker has sent
  more that we did not read (we stop reading first when we shut down), the kernel answers that
  close with a reset, and a broker busy writing to us (Mosquitto, with a queue to deliver)
  drops the connection on the reset before reading our last PUBACKs: committed messages are
  then redelivered. With ``on_goodbye`` set, the socket is handed over instead of closed, so
  the owner can half-close it and read until the broker hangs up.

These override private paho methods (paho is pinned in ``uv.lock``); every ingestion test runs
through them against a real Mosquitto.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

PUBLISH = 0x30
PUBACK = 0x40
READ_AHEAD = 65536
_puback = struct.Struct("!BBH")

Delivery = Callable[[str | None, bytes, int, int], None]


class LeanClient(mqtt.Client):
    on_publish_received: Delivery | None = None
    on_goodbye: Callable[[Any], None] | None = None  # takes the socket once DISCONNECT is sent

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0

    # --- reading ------------------------------------------------------------------------

    def _sock_recv(self, bufsize: int) -> bytes:
        pos, buf = self._rpos, self._rbuf
        if pos >= len(buf):
            buf = super()._sock_recv(max(bufsize, READ_AHEAD))  # BlockingIOError: no data
            if not buf:
                return b""  # the peer closed the connection
            self._rbuf, pos = buf, 0
        end = pos + bufsize
        self._rpos = end
        return buf[pos:end]

    def buffered(self) -> bool:
        """Bytes already read from the socket but not yet parsed (readiness will not tell)."""
        return self._rpos < len(self._rbuf)

    # --- PUBLISH ------------------------------------------------------------------------

    def _packet_read(self) -> MQTTErrorCode:
        # A whole QoS 0/1 PUBLISH already in the read-ahead buffer is parsed right there,
        # without paho's per-packet state; anything else (a partial packet, CONNACK, SUBACK,
        # PINGRESP, an empty buffer) takes paho's own path.
        if self._in_packet["command"] == 0 and self.on_publish_received is not None:
            buf, pos = self._rbuf, self._rpos
            size = len(buf)
            if pos + 1 < size and buf[pos] & 0xF0 == PUBLISH and buf[pos] & 0x06 != 0x04:
                length = shift = 0
                i = pos + 1
                while i < size and i <= pos + 4:
                    byte = buf[i]
                    i += 1
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        if i + length <= size:
                            self._rpos = i + length
                            self._last_bytes_received = time.monotonic()
                            self._publish(buf[pos], buf[i : i + length])
                            return MQTTErrorCode.MQTT_ERR_SUCCESS
                        break
        return super()._packet_read()

    def _handle_publish(self) -> MQTTErrorCode:
        header = self._in_packet["command"]
        if (header & 0x06) >> 1 == 2 or self.on_publish_received is None:
            return super()._handle_publish()
        self._publish(header, bytes(self._in_packet["packet"]))
        return MQTTErrorCode.MQTT_ERR_SUCCESS  # QoS 1: acknowledged later, after commit

    def _publish(self, header: int, packet: bytes) -> None:
        qos = (header & 0x06) >> 1
        end = 2 + int.from_bytes(packet[0:2], "big")
        try:
            topic: str | None = packet[2:end].decode("utf-8")
        except UnicodeDecodeError:
            topic = None
        mid = 0
        if qos:
            mid = int.from_bytes(packet[end : end + 2], "big")
            end += 2
        if self._protocol == mqtt.MQTTv5:  # skip the properties: length, then the bytes
            length = shift = 0
            while True:
                byte = packet[end]
                end += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            end += length
        deliver = self.on_publish_received
        assert deliver is not None
        deliver(topic, packet[end:], mid, qos)

    # --- closing ------------------------------------------------------------------------

    def _sock_close(self) -> None:
        sock, goodbye = self._sock, self.on_goodbye
        if sock is None or goodbye is None:
            super()._sock_close()
            return
        self._sock = None
        try:
            self._call_socket_unregister_write(sock)
            self._call_socket_close(sock)
        finally:
            goodbye(sock)  # the owner closes it

    # --- PUBACK -------------------------------------------------------------------------

    def queue_pubacks(self, mids: Sequence[int]) -> None:
        """Queue PUBACKs for ``mids`` (in this order) as one write."""
        if mids:
            blob = b"".join([_puback.pack(PUBACK, 2, mid) for mid in mids])
            self._packet_queue(PUBACK, blob, 0, 0)
