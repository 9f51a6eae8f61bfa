"""The fixtures start real Mosquitto and PostgreSQL, and the broker enforces the ACL."""

from __future__ import annotations

import queue
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import text

from backend.db import create_engine
from protocols.contract import (
    Channel,
    Quantity,
    ReadingBatch,
    Value,
    agent_topic,
    decode,
    encode,
    subscription,
)
from tests.support.services import Mosquitto, Postgres, start_postgres

pytestmark = pytest.mark.mosquitto


class Client:
    """A paho client whose PUBACK reason codes can be awaited (MQTT 5)."""

    def __init__(self, broker: Mosquitto, user: str) -> None:
        self.received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.pubacks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self.connected = threading.Event()
        self.connect_rc: ReasonCode | None = None
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{user}", protocol=mqtt.MQTTv5
        )
        self.c.username_pw_set(user, broker.users[user])
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda _c, _u, msg: self.received.put(msg)
        self.c.on_publish = self._on_publish
        self.c.on_subscribe = lambda *_: None
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert self.connected.wait(10)

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.connect_rc = rc
        self.connected.set()

    def _on_publish(self, _c: object, _u: object, mid: int, rc: ReasonCode, _p: Properties) -> None:
        with self._acked:
            self.pubacks[mid] = rc
            self._acked.notify_all()

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self.c.publish(topic, payload, qos=1)
        with self._acked:
            assert self._acked.wait_for(lambda: info.mid in self.pubacks, timeout=10)
            return self.pubacks[info.mid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_mosquitto_carries_a_contract_message_from_agent_to_backend(mosquitto: Mosquitto) -> None:
    backend = Client(mosquitto, Mosquitto.BACKEND)
    agent = Client(mosquitto, "agent-1")
    try:
        backend.c.subscribe(subscription(Channel.READINGS), qos=1)
        backend.c.subscribe("$SYS/#")  # denied by the ACL: nothing arrives from it
        batch = ReadingBatch(
            agent="agent-1",
            seq=1,
            values=[
                Value(meter="m1", ts=1_763_800_000_000, quantity=Quantity.ENERGY_IMPORT, value=1)
            ],
        )
        # a retry loop on subscription timing would hide bugs: wait for SUBACK instead
        sub_done = threading.Event()
        backend.c.on_subscribe = lambda *_: sub_done.set()
        backend.c.subscribe(subscription(Channel.READINGS), qos=1)
        assert sub_done.wait(10)
        rc = agent.publish(agent_topic("agent-1", Channel.READINGS), encode(batch))
        assert not rc.is_failure
        msg = backend.received.get(timeout=10)
        assert msg.topic == "meterline/v1/agents/agent-1/readings"
        assert decode(msg.payload, ReadingBatch) == batch
    finally:
        agent.close()
        backend.close()


def test_an_agent_may_not_publish_outside_its_own_topics(mosquitto: Mosquitto) -> None:
    agent = Client(mosquitto, "agent-1")
    try:
        rc = agent.publish(agent_topic("agent-2", Channel.READINGS), b'{"agent":"agent-2"}')
        assert rc.value == 0x87  # Not authorized
        rc = agent.publish(agent_topic("agent-1", Channel.COMMANDS), b"{}")
        assert rc.value == 0x87  # agents may not forge commands, even to themselves
        rc = agent.publish(agent_topic("agent-1", Channel.ACKS), b"{}")
        assert not rc.is_failure
    finally:
        agent.close()


def test_a_wrong_password_is_refused(mosquitto: Mosquitto) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5)
    c.username_pw_set("agent-1", "wrong")
    done = threading.Event()
    result: list[ReasonCode] = []
    c.on_connect = lambda _c, _u, _f, rc, _p: (result.append(rc), done.set())
    c.connect(mosquitto.host, mosquitto.port)
    c.loop_start()
    try:
        assert done.wait(10)
        assert result[0].is_failure
    finally:
        c.loop_stop()


@pytest.mark.postgres
async def test_postgres_fixture_is_a_real_server(postgres: Postgres) -> None:
    engine = create_engine(postgres.url())
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("SHOW server_version"))).scalar_one()
            user = (await conn.execute(text("SELECT current_user"))).scalar_one()
    finally:
        await engine.dispose()
    assert int(version.split(".")[0]) >= 13
    assert user == "meterline"


async def _shown(pg: Postgres, *names: str) -> tuple[str, ...]:
    engine = create_engine(pg.url())
    try:
        async with engine.connect() as conn:
            return tuple([(await conn.execute(text(f"SHOW {n}"))).scalar_one() for n in names])
    finally:
        await engine.dispose()


DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


@pytest.mark.postgres
async def test_the_benchmarks_cluster_commits_to_disk_and_the_tests_does_not(
    postgres: Postgres,
) -> None:
    """The benchmarks measure commits as production pays for them (their numbers were once
    taken on a cluster whose ``ALTER SYSTEM SET fsync = on`` the command line overrode)."""
    assert await _shown(postgres, *DURABILITY) == ("off", "off", "off")
    durable = start_postgres(durable=True)
    try:
        assert await _shown(durable, *DURABILITY) == ("on", "on", "on")
        assert await _shown(durable, "shared_buffers", "max_wal_size", "wal_compression") == (
            "512MB", "8GB", "lz4",
        )  # fmt: skip
    finally:
        durable.stop()
