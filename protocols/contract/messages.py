"""Payload Structs of the v1 MQTT contract.

Evolution rules (msgspec's): a new field always gets a default, so an older reader ignores it
and a newer reader fills it in when an older writer omits it. Fields are never renamed or
retyped; a breaking change is a new topic version (``v2``). Readers on the MQTT side accept
unknown fields, because agents and backends are upgraded at different times.

Times are integer milliseconds since the Unix epoch, UTC. A reading's ``ts`` is when the value
was acquired from the meter, never when it was sent.
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from protocols.contract.quantities import Quantity

# Identifiers are printable, short and free of MQTT wildcards and separators, so that each can
# sit in a topic level and be confined by a broker ACL.
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=253402300799999)]  # up to 9999-12-31
Text = Annotated[str, msgspec.Meta(max_length=500)]
SeqNo = Annotated[int, msgspec.Meta(ge=0)]
# What a meter can produce, with room to spare: a reading's time lies before 2100, and its
# magnitude stays below 10^15 (an energy register of 10^15 Wh is a million GWh; every register
# wraps long before: docs/mqtt.md). A value outside fails decoding — a dead letter naming the
# field — so no later sum of them can overflow a 64-bit integer.
ReadingMs = Annotated[int, msgspec.Meta(ge=0, le=4_102_444_800_000)]
MAX_MAGNITUDE = 10**15
# Values (or events) in one ReadingBatch (EventBatch): the largest message an agent may send.
MAX_BATCH_ITEMS = 10_000
# Batch seqs named in one Receipt, per channel: the backend splits a larger round.
MAX_RECEIPT_SEQS = 1_000
Measured = Annotated[int, msgspec.Meta(gt=-MAX_MAGNITUDE, lt=MAX_MAGNITUDE)]


class Quality(enum.StrEnum):
    GOOD = "good"
    STALE = "stale"  # repeated from an earlier read; the meter did not answer this time
    INVALID = "invalid"  # the meter answered but the value failed a check
    ESTIMATED = "estimated"  # 估抄: not measured
    BACKFILLED = "backfilled"  # read later from the meter's own frozen values


class RelayState(enum.IntEnum):
    """Relay (disconnect control) states, numbered as DLMS/COSEM interface class 70."""

    DISCONNECTED = 0  # 拉闸
    CONNECTED = 1  # 合闸
    READY_FOR_RECONNECTION = 2  # 允许合闸: the customer presses the button to restore


class CommandKind(enum.StrEnum):
    DISCONNECT = "disconnect"
    RECONNECT = "reconnect"
    ARM_RECONNECT = "arm_reconnect"  # to ready-for-reconnection; supply returns on a local press
    READ_NOW = "read_now"
    TIME_SYNC = "time_sync"


class CommandState(enum.StrEnum):
    RECEIVED = "received"  # persisted by the agent
    EXECUTED = "executed"  # the meter accepted it and the read-back matches
    FAILED = "failed"  # the meter refused, did not answer, or the read-back disagrees
    REFUSED_EXPIRED = "refused_expired"  # arrived or came due after not_after
    REFUSED_POLICY = "refused_policy"  # the agent's own safety re-check said no
    REFUSED_UNKNOWN_METER = "refused_unknown_meter"
    DUPLICATE = "duplicate"  # this id was seen before; the earlier outcome stands


class EventKind(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    POWER_FAILURE = "power_failure"  # 掉电
    POWER_RESTORED = "power_restored"
    COVER_OPENED = "cover_opened"  # 开表盖
    RELAY_CHANGED = "relay_changed"
    CLOCK_DRIFT = "clock_drift"  # value: drift in ms, meter minus agent
    READINGS_DROPPED = "readings_dropped"  # value: readings of this meter the agent's full
    # outbox had to drop (its limits and policy); loss is reported, never silent
    POLL_STRETCHED = "poll_stretched"  # value: the effective period (ms) at which the agent now
    # polls this meter's ``group``, stretched under overload; back to its configured period when
    # the overload is over (docs/edge-agent.md, "Overload")


class Value(msgspec.Struct, frozen=True, omit_defaults=True):
    """One acquired value. The natural key is (meter, ts, quantity)."""

    meter: Ident
    ts: ReadingMs
    quantity: Quantity
    value: Measured
    quality: Quality = Quality.GOOD


class ReadingBatch(msgspec.Struct, frozen=True, omit_defaults=True):
    """Topic ``…/agents/{agent}/readings``. ``seq`` only increases per agent, across restarts,
    so that the backend can record gaps; a resent batch keeps its first ``seq``."""

    agent: Ident
    seq: SeqNo
    values: Annotated[list[Value], msgspec.Meta(max_length=MAX_BATCH_ITEMS)]


class MeterEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    meter: Ident
    ts: EpochMs
    kind: EventKind
    value: int | None = None
    text: Text | None = None
    group: Ident | None = None  # the agent's poll group the event is about (poll_stretched)


class EventBatch(msgspec.Struct, frozen=True, omit_defaults=True):
    """Topic ``…/agents/{agent}/events``."""

    agent: Ident
    seq: SeqNo
    events: Annotated[list[MeterEvent], msgspec.Meta(max_length=MAX_BATCH_ITEMS)]


class MeterInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    meter: Ident
    protocol: Annotated[str, msgspec.Meta(max_length=32)]  # "dlt645", "modbus"
    address: Annotated[str, msgspec.Meta(max_length=64)] = ""


class AgentBirth(msgspec.Struct, frozen=True, omit_defaults=True, tag_field="state", tag="birth"):
    """Retained on ``…/agents/{agent}/state`` when the agent connects."""

    agent: Ident
    ts: EpochMs
    version: Annotated[str, msgspec.Meta(max_length=64)]
    meters: Annotated[list[MeterInfo], msgspec.Meta(max_length=100_000)] = []


class AgentDeath(msgspec.Struct, frozen=True, omit_defaults=True, tag_field="state", tag="death"):
    """The agent's MQTT last will on ``…/agents/{agent}/state`` (retained), or its clean goodbye.
    ``ts`` is when the will was registered (connect time): the broker sends it later."""

    agent: Ident
    ts: EpochMs
    clean: bool = False


AgentState = AgentBirth | AgentDeath


class Command(msgspec.Struct, frozen=True, omit_defaults=True):
    """Topic ``…/agents/{agent}/commands`` (backend → agent). ``id`` is made by the client that
    created the command and is the de-duplication key end to end."""

    id: Ident
    meter: Ident
    kind: CommandKind
    reason: Text
    issued_by: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    issued_at: EpochMs
    not_after: EpochMs
    not_before: EpochMs = 0


class CommandAck(msgspec.Struct, frozen=True, omit_defaults=True):
    """Topic ``…/agents/{agent}/acks`` (agent → backend)."""

    id: Ident
    meter: Ident
    state: CommandState
    ts: EpochMs
    relay_state: RelayState | None = None  # as read back from the meter after executing
    error: Text | None = None
    attempts: int = 0


class Receipt(msgspec.Struct, frozen=True, omit_defaults=True):
    """Topic ``…/agents/{agent}/receipts`` (backend → agent, QoS 1, not retained): the batches
    of this agent (by ``seq`` per channel) the backend has durably taken responsibility for —
    committed, or stored as a dead letter. Only then may the agent delete their rows; a seq the
    agent does not know is ignored (docs/edge-agent.md, "Outbox")."""

    agent: Ident
    ts: EpochMs
    readings: Annotated[list[SeqNo], msgspec.Meta(max_length=MAX_RECEIPT_SEQS)] = []
    events: Annotated[list[SeqNo], msgspec.Meta(max_length=MAX_RECEIPT_SEQS)] = []
