"""``meterline ingest`` as a real child process, and a broker session read back raw."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.support.services import Mosquitto

SUMMARY = re.compile(r"ingestion stopped: (\d+) messages, (\d+) readings stored, (\d+) duplicates")


class IngestProcess:
    def __init__(
        self,
        broker: Mosquitto,
        database_url: str,
        data_dir: Path,
        client_id: str,
        *args: str,
        **settings: str,
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("METERLINE_")}
        env.update(
            METERLINE_DATABASE_URL=database_url,
            METERLINE_MQTT_URL=broker.url(Mosquitto.BACKEND),
            METERLINE_MQTT_CLIENT_ID=client_id,
            METERLINE_DATA_DIR=str(data_dir),
            **{f"METERLINE_{k.upper()}": v for k, v in settings.items()},
        )
        self.lines: list[str] = []
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "--log-level", "INFO", "ingest", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "MQTT connected" in line:
                self._connected.set()
        self._stopped.set()

    def wait_connected(self, timeout_s: float = 30.0) -> None:
        assert self._connected.wait(timeout_s), "ingest did not connect:\n" + self.output

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        """SIGKILL: no commit, no acknowledgement, no DISCONNECT."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def wait(self, timeout_s: float = 60.0) -> int:
        code = self.proc.wait(timeout=timeout_s)
        self._stopped.wait(10)
        return code

    def terminate(self, timeout_s: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout_s)
        self._stopped.wait(10)
        return code

    def summary(self) -> tuple[int, int, int]:
        """(messages, readings stored, duplicates) from the shutdown log line."""
        found = SUMMARY.search(self.output)
        assert found, "no shutdown summary:\n" + self.output
        return int(found[1]), int(found[2]), int(found[3])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def session_exists(broker: Mosquitto, client_id: str) -> bool:
    """Whether the broker holds a session for ``client_id`` (asked without changing it)."""
    done = threading.Event()
    present: list[bool] = []

    def on_connect(
        _c: object, _u: object, flags: mqtt.ConnectFlags, _rc: object, _p: object
    ) -> None:
        present.append(flags.session_present)
        done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(Mosquitto.BACKEND, broker.users[Mosquitto.BACKEND])
    c.on_connect = on_connect
    c.connect(broker.host, broker.port, clean_start=False)  # keeps its expiry as it was
    c.loop_start()
    try:
        assert done.wait(10)
    finally:
        c.disconnect()
        c.loop_stop()
    return present[0]


def drain_session(
    broker: Mosquitto, client_id: str, until_payload: bytes, topic: str | None = None
) -> list[bytes]:
    """Resume a persistent session as ``client_id`` and collect what the broker had queued for
    it (on ``topic`` only, if given), up to and including the message ``until_payload``; then
    delete the session."""
    got: queue.Queue[bytes] = queue.Queue()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(Mosquitto.BACKEND, broker.users[Mosquitto.BACKEND])

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        if topic is None or msg.topic == topic:
            got.put(bytes(msg.payload))

    c.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0  # gone once we disconnect
    c.connect(broker.host, broker.port, clean_start=False, properties=props)
    c.loop_start()
    out: list[bytes] = []
    try:
        while True:
            payload = got.get(timeout=20)
            out.append(payload)
            if payload == until_payload:
                return out
    finally:
        c.disconnect()
        c.loop_stop()
