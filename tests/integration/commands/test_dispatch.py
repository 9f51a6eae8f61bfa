"""Command dispatch and acks through the real Mosquitto (password file and production ACL):
the backend publishes as meterline-backend, the acks come back as agent-1 would send them."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from backend.commands import service
from backend.commands.dispatch import Dispatcher
from backend.commands.lifecycle import State
from backend.commands.models import Command, CommandAudit
from backend.db import session_factory
from backend.metering.models import Meter
from backend.mqtt import MqttSession
from backend.settings import load_settings
from backend.system.models import DeadLetter
from protocols.contract import (
    Channel,
    CommandAck,
    CommandKind,
    CommandState,
    RelayState,
    agent_topic,
    decode,
    encode,
)
from protocols.contract import Command as CommandMsg
from tests.support.ingest_agent import forget_session
from tests.support.prepaid_data import make_account

pytestmark = pytest.mark.mosquitto


class FakeAgentLink:
    """The agent's side of the wire only: subscribe to its commands, ack like an agent."""

    def __init__(self, broker, agent: str, relay_after: RelayState) -> None:  # type: ignore[no-untyped-def]
        self.got: list[CommandMsg] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{agent}-test")
        self.client.username_pw_set(agent, broker.users[agent])
        self.agent = agent
        self.relay_after = relay_after

        def on_connect(c, u, f, reason, p):  # type: ignore[no-untyped-def]
            c.subscribe(agent_topic(agent, Channel.COMMANDS), qos=1)

        def on_subscribe(c, u, mid, reasons, p):  # type: ignore[no-untyped-def]
            self.subscribed.set()

        def on_message(c, u, msg):  # type: ignore[no-untyped-def]
            cmd = decode(msg.payload, CommandMsg)
            self.got.append(cmd)
            for state, relay in ((CommandState.RECEIVED, None),
                                 (CommandState.EXECUTED, self.relay_after)):  # fmt: skip
                ack = CommandAck(id=cmd.id, meter=cmd.meter, state=state, ts=cmd.issued_at,
                                 relay_state=relay, attempts=1)  # fmt: skip
                c.publish(agent_topic(agent, Channel.ACKS), encode(ack), qos=1)

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def wait_for_state(sessions, command_id: str, states: set[State], within_s: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        async with sessions() as s:
            c = await s.get(Command, command_id)
            if c is not None and c.state in states:
                return c
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"command {command_id} stuck in {c.state if c else None}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def dispatcher(engine, mosquitto, database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path),
        mqtt_url=mosquitto.url("meterline-backend"),
    )  # fmt: skip
    mqtt = MqttSession(settings.mqtt, f"test-commands-{tmp_path.name}", receive_maximum=100)
    d = Dispatcher(session_factory(engine), settings, mqtt)
    mqtt.start()
    await d.start()
    task = asyncio.create_task(d.run(period_s=0.2))
    yield d
    await d.stop()
    task.cancel()
    await mqtt.close()
    forget_session(mosquitto, mqtt.client_id)


async def test_a_disconnect_is_published_acked_by_the_agent_and_verified_by_read_back(
    engine, mosquitto, dispatcher: Dispatcher
) -> None:
    agent = FakeAgentLink(mosquitto, "agent-1", RelayState.DISCONNECTED)
    try:
        sessions = session_factory(engine)
        async with sessions() as s:
            _, _, meter = await make_account(s, agent="agent-1")
            c = await service.create(s, meter, CommandKind.DISCONNECT, reason="arrears",
                                     actor="op1", ttl=timedelta(hours=1))  # fmt: skip
            await s.commit()
        dispatcher.wake.set()
        done = await wait_for_state(sessions, c.id, {State.VERIFIED, State.FAILED})
        assert done.state is State.VERIFIED
        assert [m.id for m in agent.got] == [c.id]
        assert agent.got[0].reason == "arrears"
        async with sessions() as s:
            trail = (
                await s.scalars(
                    select(CommandAudit)
                    .where(CommandAudit.command_id == c.id)
                    .order_by(CommandAudit.id)
                )
            ).all()
            assert [(a.event, a.to_state) for a in trail] == [
                ("create", "queued"), ("dispatch", "dispatched"), ("receive", "received"),
                ("execute", "executed"), ("verify", "verified"),
            ]  # fmt: skip
            assert trail[2].actor == "agent:agent-1"
            m = await s.get(Meter, meter.id)
            assert m is not None
            assert m.relay_state == int(RelayState.DISCONNECTED)
    finally:
        agent.close()


async def test_a_read_back_that_disagrees_fails_the_command(
    engine, mosquitto, dispatcher: Dispatcher
) -> None:
    agent = FakeAgentLink(mosquitto, "agent-1", RelayState.CONNECTED)  # the relay stuck closed
    try:
        sessions = session_factory(engine)
        async with sessions() as s:
            _, _, meter = await make_account(s, agent="agent-1")
            c = await service.create(s, meter, CommandKind.DISCONNECT, reason="arrears",
                                     actor="op1", ttl=timedelta(hours=1))  # fmt: skip
            await s.commit()
        dispatcher.wake.set()
        done = await wait_for_state(sessions, c.id, {State.VERIFIED, State.FAILED})
        assert done.state is State.FAILED
        assert done.error == "read back 1, expected 0"
    finally:
        agent.close()


async def test_a_malformed_ack_goes_to_the_dead_letters_with_its_reason(
    engine, mosquitto, dispatcher: Dispatcher
) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="agent-2-bad")
    pub.username_pw_set("agent-2", mosquitto.users["agent-2"])
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    try:
        pub.publish(agent_topic("agent-2", Channel.ACKS), b'{"id": 5}', qos=1).wait_for_publish(10)
        sessions = session_factory(engine)
        deadline = asyncio.get_running_loop().time() + 10
        while dispatcher.rejected == 0:
            assert asyncio.get_running_loop().time() < deadline, "the bad ack never arrived"
            await asyncio.sleep(0.05)
        async with sessions() as s:
            dead = (await s.scalars(select(DeadLetter))).all()
            assert len(dead) == 1
            assert "payload invalid" in dead[0].reason
            assert dead[0].topic.endswith("agent-2/acks")
    finally:
        pub.disconnect()
        pub.loop_stop()
