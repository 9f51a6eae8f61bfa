"""Turn one received MQTT message into an ``Item``: a decoded contract message, or a reason to
dead-letter it. Runs for every message, so it stays cheap: one msgspec decode, a cached topic
parse, and a few range checks that the database would otherwise fail on mid-batch.
"""

from __future__ import annotations

import time
from typing import Any

from backend.metering.ingest import limits
from protocols.contract import (
    AgentBirth,
    AgentDeath,
    AgentState,
    Channel,
    ContractError,
    EventBatch,
    ReadingBatch,
    TopicError,
    decode,
    parse_topic,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Message = ReadingBatch | EventBatch | AgentBirth | AgentDeath


class Item:
    """One received message on its way to a commit and, after it, its PUBACK."""

    __slots__ = (
        "agent",
        "channel",
        "link",
        "message",
        "meters",
        "mid",
        "payload",
        "qos",
        "reason",
        "received",
        "received_ms",
        "seq",
        "size",
        "topic",
    )

    def __init__(
        self,
        topic: str,
        payload: bytes,
        *,
        link: Any = None,
        mid: int = 0,
        qos: int = 0,
        received: float | None = None,
        received_ms: int | None = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.link = link
        self.mid = mid
        self.qos = qos
        self.received = time.monotonic() if received is None else received
        self.received_ms = time.time_ns() // 1_000_000 if received_ms is None else received_ms
        self.agent: str | None = None
        self.channel: Channel | None = None
        self.message: Message | None = None
        self.meters: frozenset[str] = frozenset()
        self.seq: int | None = None
        self.reason: str | None = None
        self.size = 1


_topics: dict[str, tuple[str, Channel] | TopicError] = {}
_UPLINK = (Channel.READINGS, Channel.EVENTS, Channel.STATE)


def _parse(topic: str) -> tuple[str, Channel]:
    hit = _topics.get(topic)
    if hit is None:
        try:
            hit = parse_topic(topic)
        except TopicError as exc:
            hit = exc
        if len(_topics) > 100_000:  # bounded: topics are agents × channels
            _topics.clear()
        _topics[topic] = hit
    if isinstance(hit, TopicError):
        raise hit
    return hit


def classify(item: Item) -> Item:
    """Fill in ``item`` from its topic and payload; ``reason`` says why it is a dead letter."""
    try:
        agent, channel = _parse(item.topic)
    except TopicError as exc:
        item.reason = str(exc)
        return item
    item.agent, item.channel = agent, channel
    if channel not in _UPLINK:
        item.reason = f"topic {item.topic!r}: channel {channel.value!r} is not ingested"
        return item
    if channel is Channel.STATE and not item.payload:
        return item  # a retained state being cleared by an operator: nothing to apply
    too_much = limits.check(item.payload)  # size and depth before any decoder sees it
    if too_much is not None:
        item.reason, item.payload = too_much, limits.kept(item.payload)
        limits.refusals(item.topic, too_much)
        return item
    try:
        if channel is Channel.READINGS:
            _readings(item, decode(item.payload, ReadingBatch))
        elif channel is Channel.EVENTS:
            _events(item, decode(item.payload, EventBatch))
        else:
            _state(item, decode(item.payload, AgentState))
    except ContractError as exc:
        item.reason = str(exc)
    return item


def _check_agent(item: Item, agent: str) -> bool:
    if agent != item.agent:
        item.reason = (
            f"payload agent {agent!r} does not match topic agent {item.agent!r} - at `$.agent`"
        )
        return False
    return True


def _check_seq(item: Item, seq: int) -> bool:
    if seq > INT64_MAX:
        item.reason = f"seq {seq} is out of range (at most {INT64_MAX}) - at `$.seq`"
        return False
    item.seq = seq
    return True


def _readings(item: Item, batch: ReadingBatch) -> None:
    if not (_check_seq(item, batch.seq) and _check_agent(item, batch.agent)):
        return
    values = batch.values
    if values:
        numbers = [v.value for v in values]
        if max(numbers) > INT64_MAX or min(numbers) < INT64_MIN:
            i = next(i for i, n in enumerate(numbers) if not INT64_MIN <= n <= INT64_MAX)
            item.reason = f"value {numbers[i]} does not fit 64 bits - at `$.values[{i}].value`"
            return
    item.message = batch
    item.meters = frozenset([v.meter for v in values])
    item.size = max(1, len(values))


def _events(item: Item, batch: EventBatch) -> None:
    if not (_check_seq(item, batch.seq) and _check_agent(item, batch.agent)):
        return
    for i, e in enumerate(batch.events):
        if e.value is not None and not INT64_MIN <= e.value <= INT64_MAX:
            item.reason = f"value {e.value} does not fit 64 bits - at `$.events[{i}].value`"
            return
    item.message = batch
    item.meters = frozenset([e.meter for e in batch.events])
    item.size = max(1, len(batch.events))


def _state(item: Item, state: AgentBirth | AgentDeath) -> None:
    if not _check_agent(item, state.agent):
        return
    item.message = state
    if isinstance(state, AgentBirth):
        item.meters = frozenset([m.meter for m in state.meters])
