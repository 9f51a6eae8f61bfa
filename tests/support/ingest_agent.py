"""A publishing test agent, session cleanup and waiting helpers for the ingestion tests.

The agent is a real paho-mqtt 2 client (MQTT 5, QoS 1) logged in as a fixture user; its
network loop runs in paho's thread, so awaiting a PUBACK never blocks the event loop that the
ingestor under test runs on.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import text

from backend.db import create_engine
from backend.settings import Settings, load_settings
from protocols.contract import (
    AgentBirth,
    AgentDeath,
    Channel,
    Encoding,
    EventBatch,
    MeterEvent,
    MeterInfo,
    Quantity,
    ReadingBatch,
    Value,
    agent_topic,
    encode,
)
from tests.support.services import Mosquitto

T0 = 1_763_800_000_000  # 2025-11-22 08:26:40 UTC


class Agent:
    """An edge agent as the broker sees it: its own user, its own topics, QoS 1."""

    def __init__(
        self, broker: Mosquitto, agent: str = "agent-1", *, will: AgentDeath | None = None
    ) -> None:
        self.agent = agent
        self.broker = broker
        self._acked: dict[int, ReasonCode] = {}
        self._cond = threading.Condition()
        connected = threading.Event()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{agent}-{time.monotonic_ns()}",
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,
        )
        self.c.username_pw_set(agent, broker.users[agent])
        if will is not None:
            self.c.will_set(agent_topic(agent, Channel.STATE), encode(will), qos=1, retain=True)
        self.c.on_connect = lambda *_: connected.set()
        self.c.on_publish = self._on_publish
        self.c.max_inflight_messages_set(1000)
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert connected.wait(10), "agent could not connect"

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._acked[mid] = rc
            self._cond.notify_all()

    def _publish_sync(self, items: Sequence[tuple[str, bytes, bool]]) -> None:
        mids = [self.c.publish(t, p, qos=1, retain=r).mid for t, p, r in items]
        with self._cond:
            assert self._cond.wait_for(lambda: all(m in self._acked for m in mids), 30)
            failed = [self._acked[m] for m in mids if self._acked[m].is_failure]
        assert not failed, f"broker refused: {failed}"

    async def publish(self, channel: Channel, *payloads: bytes, retain: bool = False) -> None:
        """Publish and return once the broker has acknowledged every message."""
        topic = agent_topic(self.agent, channel)
        await asyncio.to_thread(self._publish_sync, [(topic, p, retain) for p in payloads])

    async def readings(
        self, *batches: tuple[int, list[Value]], encoding: Encoding = Encoding.JSON
    ) -> None:
        await self.publish(
            Channel.READINGS,
            *[
                encode(ReadingBatch(agent=self.agent, seq=s, values=v), encoding)
                for s, v in batches
            ],
        )

    async def events(self, seq: int, events: list[MeterEvent]) -> None:
        await self.publish(
            Channel.EVENTS, encode(EventBatch(agent=self.agent, seq=seq, events=events))
        )

    async def birth(self, ts: int = T0, version: str = "1.0.0", meters: Sequence[str] = ()) -> None:
        infos = [
            MeterInfo(meter=m, protocol="dlt645", address=f"{i:012d}") for i, m in enumerate(meters)
        ]
        msg = AgentBirth(agent=self.agent, ts=ts, version=version, meters=infos)
        await self.publish(Channel.STATE, encode(msg), retain=True)

    async def clear_state(self) -> None:
        """Remove the retained state a previous test left on the broker."""
        await self.publish(Channel.STATE, b"", retain=True)

    def vanish(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker publishes the last will."""
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def values(
    meters: Sequence[str],
    ts: int,
    quantities: Sequence[Quantity] = (Quantity.ENERGY_IMPORT,),
    base: int = 0,
) -> list[Value]:
    return [
        Value(meter=m, ts=ts, quantity=q, value=base + i * 10 + j)
        for i, m in enumerate(meters)
        for j, q in enumerate(quantities)
    ]


def settings_for(database_url: str, broker: Mosquitto, data_dir: str, **overrides: Any) -> Settings:
    return load_settings(
        env={},
        database_url=database_url,
        mqtt_url=broker.url(Mosquitto.BACKEND),
        data_dir=data_dir,
        **overrides,
    )


def forget_session(broker: Mosquitto, client_id: str) -> None:
    """Delete a persistent session (and its queue) from the broker: connect with a clean start
    and a zero session expiry, then disconnect."""
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(Mosquitto.BACKEND, broker.users[Mosquitto.BACKEND])
    c.on_connect = lambda *_: done.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    c.connect(broker.host, broker.port, clean_start=True, properties=props)
    c.loop_start()
    try:
        assert done.wait(10)
    finally:
        c.disconnect()
        c.loop_stop()


async def until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float = 20.0, what: str = ""
) -> None:
    """Wait for a condition (checked every 20 ms) or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        await asyncio.sleep(0.02)


async def query(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(text(sql), params)]
    finally:
        await engine.dispose()


async def scalar(database_url: str, sql: str, **params: Any) -> Any:
    rows = await query(database_url, sql, **params)
    return rows[0][0]


async def settled(ing: Any, messages: int, timeout_s: float = 20.0) -> None:
    """Wait until the ingestor ``ing`` has received ``messages`` messages and committed (and
    acknowledged) all of them."""
    await until(lambda: ing.counters.messages >= messages, timeout_s, f"{messages} messages")
    await until(lambda: ing.writer.backlog == 0 and ing.writer.idle.is_set(), timeout_s, "commit")
