"""Commands over MQTT: publish ``Command`` (QoS 1) to each agent's commands topic and consume
``CommandAck`` from ``…/acks``.

On the process's one MQTT session (``backend.mqtt``), shared with ingestion: MQTT 5 where the
broker speaks it, 3.1.1 otherwise (the demo's amqtt), a persistent session, the acks through
``$share/{group}/…`` when a share group is set. An ack is acknowledged to the broker only after
the state change is committed, so a crash between the two replays the ack, which is harmless:
applying an ack twice moves nothing the second time. A command becomes ``dispatched`` only when
the broker's PUBACK arrived (awaited on the event loop, no thread per command).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.commands import service
from backend.commands.lifecycle import Event, State
from backend.commands.models import Command as CommandRow
from backend.mqtt import Link, MqttSession, Route
from backend.prepaid import engine
from backend.settings import Settings
from backend.system.leader import Leader
from backend.system.models import DeadLetter
from backend.types import to_epoch_ms, utcnow
from protocols.backoff import backoff_delay
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

# (link, topic, payload, mid, qos) of a received ack, waiting for its commit
Received = tuple[Link, str, bytes, int, int]


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        mqtt: MqttSession,
        leader: Leader | None = None,
    ) -> None:
        """Adds the acks route to ``mqtt``, which its owner starts once every route is in.
        With a ``leader``, commands are published and expired only while it is held (acks are
        applied everywhere: applying one twice moves nothing)."""
        self.sessions = sessions
        self.leader = leader
        self.settings = settings
        self.mqtt = mqtt
        self.acks: asyncio.Queue[Received] = asyncio.Queue()
        self.wake = asyncio.Event()  # publish queued commands now
        self.rejected = 0  # bad ack payloads, kept in dead_letters
        self._ack_ready = asyncio.Event()
        self._lock = asyncio.Lock()  # one round at a time; stop waits for the round in hand
        self._stopped = False
        share = settings.mqtt_share_group or None
        mqtt.add_route(
            Route(
                channels=frozenset({Channel.ACKS}),
                filters=[subscription(Channel.ACKS, share_group=share)],
                # a session that once took the acks without the group would get each twice
                stale=[subscription(Channel.ACKS)] if share else [],
                on_message=self._received,
                on_connected=lambda _link: self.wake.set(),  # send what queued up meanwhile
            )
        )

    @property
    def connected(self) -> asyncio.Event:
        return self.mqtt.connected

    def _received(
        self, link: Link, topic: str | None, payload: bytes, mid: int, qos: int, _at: float
    ) -> None:
        self.acks.put_nowait((link, topic or "", payload, mid, qos))
        self._ack_ready.set()

    async def start(self, connect_within_s: float | None = 10.0) -> None:
        """Wait for the session to connect (``None``: do not wait — a broker that is down must
        not stop the API from starting, and commands stay queued until it is back)."""
        if connect_within_s is not None:
            await asyncio.wait_for(self.mqtt.connected.wait(), connect_within_s)

    async def stop(self) -> None:
        """Read nothing more from the broker, then commit and acknowledge the acks in hand
        (what was not read stays with the broker for the next process)."""
        self.mqtt.pause()
        async with self._lock:
            self._stopped = True
            await self._apply_acks()

    async def _apply_acks(self) -> None:
        while not self.acks.empty():
            await self.handle_ack(*self.acks.get_nowait())

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
            # all published at once, each awaited on its own PUBACK (pipelined, no thread)
            confirmed = await asyncio.gather(*(self._publish(row) for row in rows))
            for row, ok in zip(rows, confirmed, strict=True):
                if not ok:
                    log.warning("command %s: no PUBACK yet, stays queued", row.id)
                    continue
                await service.transition(
                    s, row, Event.DISPATCH, "dispatcher", f"published to {row.agent_id}"
                )
                await s.commit()
                sent += 1
        return sent

    async def _publish(self, row: CommandRow) -> bool:
        assert row.agent_id is not None
        message = Command(
            id=row.id, meter=row.meter_id, kind=row.kind, reason=row.reason[:500],
            issued_by=row.actor, issued_at=to_epoch_ms(row.created_at),
            not_after=to_epoch_ms(row.not_after),
        )  # fmt: skip
        topic = agent_topic(row.agent_id, Channel.COMMANDS)
        return await self.mqtt.publish(topic, encode(message), timeout_s=10.0)

    async def handle_ack(
        self, link: Link, topic: str, payload: bytes, mid: int, qos: int = 1
    ) -> None:
        """Apply one ack and commit; only then acknowledge it to the broker. A database that
        is away is waited for (backoff, nothing acknowledged meanwhile); an ack the database
        refuses for its content becomes a dead letter with the reason."""
        attempt = 0
        while True:
            try:
                bad = await self._apply(topic, payload)
                break
            except Exception as exc:
                attempt += 1
                if attempt >= 5:
                    log.exception("command ack on %s could not be applied", topic)
                    if not await self._dead_letter(topic, payload, f"not applied: {exc}"):
                        link.forget(mid)  # the database is away: the broker keeps it
                        return
                    bad = True
                    break
                delay = backoff_delay(attempt, 0.2, 5.0, random.random())
                log.warning("command ack on %s not applied (%s); retry in %.1fs", topic, exc, delay)
                await asyncio.sleep(delay)
        self.rejected += bad
        if qos:
            link.ack([mid])  # only now: the change is committed

    async def _dead_letter(self, topic: str, payload: bytes, reason: str) -> bool:
        try:
            async with self.sessions() as s:
                s.add(
                    DeadLetter(
                        received_at=utcnow(), source="mqtt", topic=topic[:256], reason=reason,
                        payload=payload,
                    )
                )  # fmt: skip
                await s.commit()
        except Exception:
            log.exception("command ack on %s not stored as a dead letter either", topic)
            return False
        return True

    async def _apply(self, topic: str, payload: bytes) -> bool:
        """Apply the ack (or store it as a dead letter) and commit; True when it was bad."""
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
        return bad

    async def sweep(self) -> int:
        grace = timedelta(seconds=self.settings.command_ack_grace_seconds)
        async with self.sessions() as s:
            n = await service.expire_due(s, utcnow(), grace)
            await s.commit()
        return n

    async def run(self, period_s: float = 1.0) -> None:
        """Until stopped: apply acks as they come; publish queued commands when woken and
        every ``period_s``; expire old ones (those two only while leading)."""
        loop = asyncio.get_running_loop()
        next_round = 0.0
        while True:
            async with self._lock:
                if self._stopped:
                    return
                await self._apply_acks()
                leads = self.leader is None or self.leader.held
                if leads and (self.wake.is_set() or loop.time() >= next_round):
                    self.wake.clear()
                    try:
                        if self.mqtt.connected.is_set():
                            await self.dispatch_queued()
                        await self.sweep()
                    except Exception:  # logged; the next round retries, nothing is lost
                        log.exception("command dispatcher round failed")
                    next_round = loop.time() + period_s
            self._ack_ready.clear()
            if not self.acks.empty():
                continue
            if leads:
                await _first(self._ack_ready, self.wake, timeout_s=next_round - loop.time())
            else:  # a follower: acks only, until it leads (a wake waits for that)
                assert self.leader is not None
                await _first(self._ack_ready, self.leader.gained, timeout_s=period_s)


async def _first(*events: asyncio.Event, timeout_s: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(
            waiters, timeout=max(0.0, timeout_s), return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for w in waiters:
            w.cancel()


def wake_dispatcher(state: Any) -> None:
    """Publish new commands now rather than at the next round (``state``: the app's state,
    where the lifespan keeps this process's dispatcher, if it runs one)."""
    dispatcher: Dispatcher | None = state.get("command_dispatcher")
    if dispatcher is not None:
        dispatcher.wake.set()
