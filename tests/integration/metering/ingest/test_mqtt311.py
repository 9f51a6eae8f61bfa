"""A broker that speaks only MQTT 3.1.1 (amqtt, the demo's in-process broker): ingestion falls
back from MQTT 5 and still stores what arrives, acknowledged after commit."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from amqtt.broker import Broker
from paho.mqtt.enums import CallbackAPIVersion

from backend.commands import service
from backend.commands.dispatch import Dispatcher
from backend.commands.lifecycle import State
from backend.commands.models import Command as CommandRow
from backend.db import create_engine, session_factory
from backend.metering.ingest import Ingestor
from backend.mqtt import MqttSession
from backend.settings import load_settings
from protocols.contract import (
    Channel,
    CommandAck,
    CommandKind,
    CommandState,
    ReadingBatch,
    RelayState,
    agent_topic,
    decode,
    encode,
)
from protocols.contract import Command as CommandMsg
from tests.support.ingest_agent import T0, scalar, settled, until, values
from tests.support.prepaid_data import make_account
from tests.support.services import free_port


def _publish_311(port: int, payloads: list[bytes]) -> None:
    done = threading.Event()
    acked: set[int] = set()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="agent-1", protocol=mqtt.MQTTv311)
    c.on_publish = lambda _c, _u, mid, _rc, _p: (acked.add(mid), done.set())
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        mids = [c.publish(agent_topic("agent-1", Channel.READINGS), p, qos=1).mid for p in payloads]
        for _ in range(500):
            if set(mids) <= acked:
                break
            done.wait(0.05)
            done.clear()
        assert set(mids) <= acked
    finally:
        c.disconnect()
        c.loop_stop()


async def test_ingestion_falls_back_to_mqtt_311_when_the_broker_does_not_speak_mqtt_5(
    tmp_path: Path,
) -> None:
    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    from backend import migrate

    database_url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(database_url)
    settings = load_settings(
        env={},
        database_url=database_url,
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        data_dir=str(tmp_path),
    )
    ing = Ingestor(settings, client_id="backend-311", stats_every_s=3600)
    try:
        await ing.start()
        await until(lambda: ing.status == "connected", 20, "connection over MQTT 3.1.1")
        assert ing.mqtt.v5 is False
        payloads = [
            encode(ReadingBatch(agent="agent-1", seq=s, values=values(["m1", "m2"], T0 + s)))
            for s in range(1, 31)
        ]
        await asyncio.to_thread(_publish_311, port, payloads)
        await settled(ing, 30)
    finally:
        await ing.stop()
        await broker.shutdown()
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 60


async def test_command_dispatch_shares_the_session_and_falls_back_with_ingestion(
    sqlite_database_url: str, tmp_path: Path
) -> None:
    """One session on a 3.1.1-only broker carries readings in and a command out and its acks
    back: the dispatcher publishes on ingestion's link, in whatever protocol it settled on."""
    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    settings = load_settings(
        env={}, database_url=sqlite_database_url, mqtt_url=f"mqtt://127.0.0.1:{port}",
        data_dir=str(tmp_path),
    )  # fmt: skip
    engine = create_engine(sqlite_database_url)
    sessions = session_factory(engine)
    mqtt_session = MqttSession(settings.mqtt, "backend-311-shared", receive_maximum=100)
    ing = Ingestor(settings, mqtt=mqtt_session, stats_every_s=3600)
    dispatcher = Dispatcher(sessions, settings, mqtt_session)
    agent = await asyncio.to_thread(_AgentOn311, port)  # the broker runs on this loop
    try:
        async with sessions() as s:
            _, _, meter = await make_account(s, agent="agent-1")
            command = await service.create(s, meter, CommandKind.DISCONNECT, reason="arrears",
                                           actor="op1", ttl=timedelta(hours=1))  # fmt: skip
            await s.commit()
        await ing.start()
        mqtt_session.start()
        run = asyncio.create_task(dispatcher.run(period_s=0.2))
        await until(lambda: ing.status == "connected", 20, "connection over MQTT 3.1.1")
        assert mqtt_session.v5 is False
        await asyncio.to_thread(_publish_311, port, [
            encode(ReadingBatch(agent="agent-1", seq=1, values=values([meter.meter_id], T0)))
        ])  # fmt: skip

        async def verified() -> bool:
            async with sessions() as s:
                row = await s.get(CommandRow, command.id)
                return row is not None and row.state is State.VERIFIED

        await until(verified, 20, "the command to be executed and verified")
        assert agent.got == [command.id]
        await settled(ing, 1)
        await dispatcher.stop()
        run.cancel()
    finally:
        agent.close()
        await ing.stop()
        await mqtt_session.close()
        await engine.dispose()
        await broker.shutdown()
    assert await scalar(sqlite_database_url, "SELECT count(*) FROM readings") == 1


class _AgentOn311:
    """The agent's side only: take commands, acknowledge them executed with the relay open."""

    def __init__(self, port: int) -> None:
        self.got: list[str] = []
        subscribed = threading.Event()
        c = self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="agent-1-cmd", protocol=mqtt.MQTTv311
        )

        def on_message(_c, _u, msg):  # type: ignore[no-untyped-def]
            cmd = decode(msg.payload, CommandMsg)
            self.got.append(cmd.id)
            for state, relay in ((CommandState.RECEIVED, None),
                                 (CommandState.EXECUTED, RelayState.DISCONNECTED)):  # fmt: skip
                ack = CommandAck(id=cmd.id, meter=cmd.meter, state=state, ts=cmd.issued_at,
                                 relay_state=relay, attempts=1)  # fmt: skip
                c.publish(agent_topic("agent-1", Channel.ACKS), encode(ack), qos=1)

        c.on_connect = lambda *_: c.subscribe(agent_topic("agent-1", Channel.COMMANDS), qos=1)
        c.on_subscribe = lambda *_: subscribed.set()
        c.on_message = on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert subscribed.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
