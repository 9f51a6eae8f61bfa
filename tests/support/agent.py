"""Helpers for running the edge agent against real Mosquitto in tests: a TOML config writer,
a backend-side subscriber that decodes every contract message, and a command sender."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocols.contract import (
    AgentBirth,
    AgentDeath,
    Channel,
    Command,
    CommandAck,
    EventBatch,
    ReadingBatch,
    agent_topic,
    decode,
    encode,
    parse_topic,
    subscription,
)
from tests.support.services import Mosquitto

AGENT = "agent-1"
UPLINK = (Channel.STATE, Channel.READINGS, Channel.EVENTS, Channel.ACKS)
# the least an agent's file may say: one DL/T 645 bus, one group, one meter (data_dir /tmp/x)
MINIMAL_TOML = """
agent_id = "agent-1"
data_dir = "/tmp/x"
[broker]
host = "127.0.0.1"
[[buses]]
name = "b"
transport = "tcp"
protocol = "dlt645"
host = "127.0.0.1"
port = 8021
  [[buses.groups]]
  name = "energy"
  every_s = 900
  align = true
  dis = ["00010000"]
  [[buses.meters]]
  id = "m1"
  address = "000000000001"
"""


def agent_toml(
    tmp: Path,
    broker: Mosquitto,
    buses: str,
    *,
    extra: str = "",
    outbox: str = "",
    policy: str = "enabled = false",
    broker_extra: str = "",
) -> Path:
    """Write an agent config (fast timings) and return its path."""
    pw = tmp / "mqtt-password"
    pw.write_text(broker.users[AGENT])
    path = tmp / "agent.toml"
    path.write_text(
        f"""
agent_id = "{AGENT}"
data_dir = "{tmp / "data"}"
clock_drift_limit_s = 30
log_level = "DEBUG"
{extra}

[broker]
host = "{broker.host}"
port = {broker.port}
password_file = "{pw}"
client_id = "{AGENT}-{uuid.uuid4().hex[:8]}"
reconnect_min_s = 0.1
reconnect_max_s = 0.5
{broker_extra}

[outbox]
{outbox if "batch_size" in outbox else "batch_size = 50" + chr(10) + outbox}

[metrics]
listen = ""

[commands]
relay_settle_s = 0.05

[disconnect_policy]
{policy}

{buses}
"""
    )
    return path


def dlt645_tcp_bus(port: int, meters: list[str], *, every_s: float = 0.2, extra: str = "") -> str:
    text = f"""
[[buses]]
name = "gw-1"
transport = "tcp"
protocol = "dlt645"
host = "127.0.0.1"
port = {port}
timeout_ms = 150
inter_frame_gap_ms = 2
offline_after = 2
backoff_max_s = 2
{extra}

  [[buses.groups]]
  name = "fast"
  every_s = {every_s}
  dis = ["00010000"]
"""
    for address in meters:
        text += f"""
  [[buses.meters]]
  id = "m{address[-1]}"
  address = "{address}"
  relay_secret = "env:TEST_RELAY_SECRET"
  clock_check_s = 3600
"""
    return text


class Backend:
    """Subscribes like the backend does and keeps every decoded message, in arrival order."""

    def __init__(self, broker: Mosquitto, user: str = Mosquitto.BACKEND) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.raw: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-backend-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.c.username_pw_set(user, broker.users[user])
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *_a: self._subscribed.set()
        self.c.on_connect = lambda c, *_a: c.subscribe(
            [
                (subscription(ch), 1)
                for ch in (Channel.STATE, Channel.READINGS, Channel.EVENTS, Channel.ACKS)
            ]
        )
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert self._subscribed.wait(10)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        _agent, channel = parse_topic(msg.topic)
        kind: Any = {
            Channel.STATE: AgentBirth | AgentDeath,
            Channel.READINGS: ReadingBatch,
            Channel.EVENTS: EventBatch,
            Channel.ACKS: CommandAck,
        }[channel]
        with self._cond:
            self.raw.append((channel.value, bytes(msg.payload), bool(msg.retain)))
            self.messages.append((channel.value, decode(bytes(msg.payload), kind)))
            self._cond.notify_all()
            for loop, event in self._waiters:
                loop.call_soon_threadsafe(event.set)

    async def until(self, predicate: Callable[[], Any], within: float = 45.0) -> Any:
        """Wait (without blocking the event loop) until ``predicate()`` is true, checked when a
        message arrives and at least every 100 ms (a predicate may read the agent's own state,
        such as its outbox depth, which changes without a message); fail after ``within``."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._cond:
            self._waiters.append(entry)
        deadline = time.monotonic() + within
        try:
            while not (result := predicate()):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"not met in {within}s; {len(self.messages)} messages"
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, 0.1))
            return result
        finally:
            with self._cond:
                self._waiters.remove(entry)

    async def birth(self, within: float = 15.0) -> AgentBirth:
        """The birth of the agent started by this test (retained ones from before are older
        than this subscriber); commands sent after it reach the agent's subscription."""
        births = await self.until(
            lambda: [
                m
                for (ch, m), (_c, _p, retained) in zip(self.messages, self.raw, strict=True)
                if isinstance(m, AgentBirth) and not retained
            ],
            within,
        )
        return births[-1]  # type: ignore[no-any-return]

    def of(self, channel: str) -> list[Any]:
        with self._cond:
            return [m for ch, m in self.messages if ch == channel]

    def values(self) -> list[Any]:
        return [v for batch in self.of("readings") for v in batch.values]

    def events(self, kind: str | None = None, meter: str | None = None) -> list[Any]:
        return [
            e
            for batch in self.of("events")
            for e in batch.events
            if (kind is None or e.kind == kind) and (meter is None or e.meter == meter)
        ]

    def acks(self, command_id: str) -> list[CommandAck]:
        return [a for a in self.of("acks") if a.id == command_id]

    def send(self, command: Command) -> None:
        info = self.c.publish(agent_topic(AGENT, Channel.COMMANDS), encode(command), qos=1)
        info.wait_for_publish(10)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


async def wait_until(predicate: Callable[[], Any], within: float = 15.0) -> None:
    """Poll a condition of this process (a fake meter's counters) until true or fail."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"condition not met in {within}s"
        await asyncio.sleep(0.02)


def command(kind: str, meter: str = "m1", **kw: Any) -> Command:
    now = int(time.time() * 1000)
    fields: dict[str, Any] = {
        "id": f"cmd-{uuid.uuid4().hex[:12]}",
        "meter": meter,
        "kind": kind,
        "reason": "test",
        "issued_by": "operator-7",
        "issued_at": now,
        "not_after": now + 60_000,
    }
    fields.update(kw)
    return Command(**fields)
