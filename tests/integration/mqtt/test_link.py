"""The backend's MQTT link against the real Mosquitto: acknowledgements leave in receipt order
whoever gives them, and the last ones reach the broker even while it is still sending."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from backend.mqtt import Link
from protocols.contract import Channel, ReadingBatch, agent_topic, encode
from tests.support.ingest_agent import Agent, forget_session, until
from tests.support.ingest_process import drain_session
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto
_ids = itertools.count()
WINDOW = 100  # the test broker's max_inflight_messages


def _endpoint(mosquitto: Mosquitto):  # type: ignore[no-untyped-def]
    from backend.settings import MqttEndpoint

    return MqttEndpoint.parse(mosquitto.url(Mosquitto.BACKEND))


async def _publish(mosquitto: Mosquitto, payloads: list[bytes]) -> None:
    agent = Agent(mosquitto)
    try:
        await agent.publish(Channel.READINGS, *payloads)
    finally:
        agent.close()


def _stream(first: int, count: int) -> list[bytes]:
    return [
        encode(ReadingBatch(agent="agent-1", seq=s, values=[])) for s in range(first, first + count)
    ]


async def _session_with_a_queue(mosquitto: Mosquitto, cid: str, messages: int) -> list[bytes]:
    """Create the persistent session ``cid`` subscribed to agent-1's readings, then queue
    ``messages`` for it while it is away."""
    link = Link(
        _endpoint(mosquitto), cid, v5=True, receive_maximum=WINDOW, on_message=lambda *_: None
    )
    await link.open()
    await link.subscribe([agent_topic("agent-1", Channel.READINGS)])
    await link.close()
    payloads = _stream(0, messages)
    await _publish(mosquitto, payloads)
    return payloads


async def test_the_last_pubacks_reach_the_broker_while_it_is_still_sending(
    mosquitto: Mosquitto,
) -> None:
    """Each round queues a backlog, resumes the session, takes a full window, acknowledges it
    in one write and disconnects at once: the broker, with more queued for us, is writing the
    next messages as our PUBACKs arrive. It must read every one of them first (a socket closed
    under its writes is reset, and Mosquitto then drops what it had not read yet)."""
    cid = f"test-link-{next(_ids)}"
    payloads = await _session_with_a_queue(mosquitto, cid, 0)
    acknowledged: set[bytes] = set()
    try:
        for round_ in range(5):
            backlog = _stream(1000 * (round_ + 1), 3 * WINDOW)
            await _publish(mosquitto, backlog)
            payloads += backlog
            got: list[tuple[int, bytes]] = []
            link = Link(
                _endpoint(mosquitto), cid, v5=True, receive_maximum=WINDOW,
                on_message=lambda _l, _t, p, mid, _q, _at, got=got: got.append((mid, p)),
            )  # fmt: skip
            try:
                await link.open()  # the resumed session streams its queue at once
                await until(lambda got=got: len(got) >= WINDOW, 10, "a full window")
                link.pause()  # as at shutdown: read nothing more
                assert link.ack([mid for mid, _ in got])  # one write of the PUBACKs ...
                await link.close()  # ... then DISCONNECT while the broker sends the next ones
            finally:
                link.abort()
            acknowledged |= {p for _, p in got}
        marker = encode(ReadingBatch(agent="agent-1", seq=10**6, values=[]))
        await _publish(mosquitto, [marker])
        queued = await asyncio.to_thread(drain_session, mosquitto, cid, marker)
    finally:
        forget_session(mosquitto, cid)
    assert acknowledged & set(queued) == set()  # every PUBACK was read by the broker
    assert set(queued[:-1]) == set(payloads) - acknowledged  # and nothing else was


async def test_acknowledgements_leave_in_the_order_the_messages_came(
    mosquitto: Mosquitto,
) -> None:
    cid = f"test-link-{next(_ids)}"
    payloads = await _session_with_a_queue(mosquitto, cid, 10)
    got: list[int] = []
    link = Link(
        _endpoint(mosquitto), cid, v5=True, receive_maximum=WINDOW,
        on_message=lambda _l, _t, _p, mid, _q, _at: got.append(mid),
    )  # fmt: skip
    sent: list[list[int]] = []
    try:
        await link.open()
        await until(lambda: len(got) == 10, 10, "the queue")
        link.client.queue_pubacks = sent.append  # type: ignore[method-assign]
        # two consumers: the second acknowledges its later messages first
        link.ack(got[5:])
        assert sent == []  # held back: older messages are not acknowledged yet
        link.ack(got[2:5])
        assert sent == []
        link.ack(got[:2])
        assert sent == [got]  # all ten, in receipt order, in one write
    finally:
        link.abort()
        forget_session(mosquitto, cid)
    assert len(payloads) == 10
