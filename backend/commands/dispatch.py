"""Commands over MQTT: publish ``Command`` (QoS 1) to each agent's commands topic and consume
``CommandAck`` from ``…/acks``.

Its own small paho client (the backend's credentials), so the command path does not depend on
ingestion running in this process. An ack is acknowledged to the broker only after the state
change is committed (paho manual acks), so a crash between the two replays the ack, which is
harmless: applying an ack twice moves nothing the second time. A command becomes
``dispatched`` only when the broker's PUBACK arrived.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.commands import service
from backend.commands.lifecycle import Event, State
from backend.commands.models import Command as CommandRow
from backend.metering.ingest.service import default_client_id
from backend.prepaid import engine
from backend.settings import Settings
from backend.system.models import DeadLetter
from backend.types import to_epoch_ms, utcnow
from protocols.contract import (
    Channel,
    Command,
    CommandAck,
    ContractError,
    TopicError,
    agent_topic,
    decode,
    encode,
    parse_topic,
    subscription,
)

log = logging.getLogger("meterline.commands")


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        client_id: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.acks: asyncio.Queue[tuple[str, bytes, int]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.wake = asyncio.Event()
        self.rejected = 0  # bad ack payloads, kept in dead_letters
        self._loop: asyncio.AbstractEventLoop | None = None
        ep = settings.mqtt
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"{default_client_id(settings, 'api')}-commands",
            # 3.1.1 is all this channel needs (QoS 1, a persistent session, manual acks; shared
            # subscriptions work on Mosquitto and EMQX), and the demo's amqtt speaks only it
            protocol=mqtt.MQTTv311,
            clean_session=False,  # acks sent while this process is down wait at the broker
            manual_ack=True,
        )
        if ep.username:
            self.client.username_pw_set(ep.username, ep.password)
        if ep.tls:
            self.client.tls_set()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: (
            self._loop and self._loop.call_soon_threadsafe(self.connected.clear)
        )
        self._endpoint = ep

    def _on_connect(self, client, userdata, flags, reason, properties):  # type: ignore[no-untyped-def]
        if reason.is_failure:
            log.error("command channel: broker refused the connection: %s", reason)
            return
        share = self.settings.mqtt_share_group or None
        client.subscribe(subscription(Channel.ACKS, share_group=share), qos=1)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.connected.set)
        self._loop.call_soon_threadsafe(self.wake.set)  # send what queued up meanwhile

    def _on_message(self, client, userdata, msg):  # type: ignore[no-untyped-def]
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.acks.put_nowait, (msg.topic, msg.payload, msg.mid))

    async def start(self, connect_within_s: float | None = 10.0) -> None:
        """Connect; paho keeps reconnecting in its thread (1 s doubling to 60 s). With
        ``connect_within_s=None`` do not wait: a broker that is down must not stop the API
        from starting, and commands stay queued until it is back."""
        self._loop = asyncio.get_running_loop()
        self.client.reconnect_delay_set(1, 60)
        self.client.connect_async(self._endpoint.host, self._endpoint.port, keepalive=30)
        self.client.loop_start()
        if connect_within_s is not None:
            await asyncio.wait_for(self.connected.wait(), connect_within_s)

    async def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    async def dispatch_queued(self) -> int:
        """Publish every queued, unexpired command; mark it dispatched on the broker's PUBACK."""
        sent = 0
        async with self.sessions() as s:
            rows = (
                await s.scalars(
                    select(CommandRow)
                    .where(CommandRow.state == State.QUEUED, CommandRow.not_after > utcnow())
                    .order_by(CommandRow.created_at)
                    .limit(500)
                )
            ).all()
            for row in rows:
                assert row.agent_id is not None
                message = Command(
                    id=row.id, meter=row.meter_id, kind=row.kind, reason=row.reason[:500],
                    issued_by=row.actor, issued_at=to_epoch_ms(row.created_at),
                    not_after=to_epoch_ms(row.not_after),
                )  # fmt: skip
                info = self.client.publish(
                    agent_topic(row.agent_id, Channel.COMMANDS), encode(message), qos=1
                )
                await asyncio.to_thread(info.wait_for_publish, 10.0)
                if not info.is_published():
                    log.warning("command %s: no PUBACK yet, stays queued", row.id)
                    continue
                await service.transition(
                    s, row, Event.DISPATCH, "dispatcher", f"published to {row.agent_id}"
                )
                await s.commit()
                sent += 1
        return sent

    async def handle_ack(self, topic: str, payload: bytes, mid: int) -> None:
        bad = False
        async with self.sessions() as s:
            try:
                agent, channel = parse_topic(topic)
                if channel is not Channel.ACKS:
                    raise TopicError(f"{topic}: not an acks topic")
                ack: CommandAck = decode(payload, CommandAck)
            except (ContractError, TopicError) as exc:
                bad = True
                log.warning("bad command ack on %s: %s", topic, exc)
                s.add(
                    DeadLetter(
                        received_at=utcnow(), source="mqtt", topic=topic[:256], reason=str(exc),
                        payload=payload,
                    )
                )  # fmt: skip
            else:
                command = await service.apply_ack(s, ack, agent)
                if command is not None:  # "disconnected" / "restored" notices, same commit
                    await engine.after_verified(s, self.settings, command, utcnow())
            await s.commit()
        self.rejected += bad
        self.client.ack(mid, 1)  # only now: the change is committed

    async def sweep(self) -> int:
        grace = timedelta(seconds=self.settings.command_ack_grace_seconds)
        async with self.sessions() as s:
            n = await service.expire_due(s, utcnow(), grace)
            await s.commit()
        return n

    async def run(self, period_s: float = 1.0) -> None:
        """Until cancelled: apply acks as they come, publish queued commands, expire old ones."""
        while True:
            try:
                while not self.acks.empty():
                    await self.handle_ack(*self.acks.get_nowait())
                if self.connected.is_set():
                    await self.dispatch_queued()
                await self.sweep()
            except Exception:  # logged; the next round retries, nothing is lost
                log.exception("command dispatcher round failed")
            get = asyncio.ensure_future(self.acks.get())
            wake = asyncio.ensure_future(self.wake.wait())
            done, pending = await asyncio.wait({get, wake}, timeout=period_s,
                                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            for p in pending:
                p.cancel()
            self.wake.clear()
            if get in done:
                await self.handle_ack(*get.result())


def wake_dispatcher(state: Any) -> None:
    """Publish new commands now rather than at the next round (``state``: the app's state,
    where the lifespan keeps this process's dispatcher, if it runs one)."""
    dispatcher: Dispatcher | None = state.get("command_dispatcher")
    if dispatcher is not None:
        dispatcher.wake.set()
