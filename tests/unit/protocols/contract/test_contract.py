"""The v1 MQTT contract: round trips, schema evolution, clear errors, topics."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from protocols.contract import (
    QUANTITIES,
    AgentBirth,
    AgentDeath,
    AgentState,
    Channel,
    Command,
    CommandAck,
    CommandKind,
    CommandState,
    ContractError,
    Encoding,
    EventBatch,
    EventKind,
    MeterEvent,
    MeterInfo,
    Quality,
    Quantity,
    ReadingBatch,
    RelayState,
    TopicError,
    Value,
    agent_topic,
    decode,
    detect_encoding,
    encode,
    parse_topic,
    subscription,
)

T0 = 1_763_800_000_000

EXAMPLES: list[tuple[Any, Any]] = [
    (
        ReadingBatch(
            agent="agent-1",
            seq=42,
            values=[
                Value(meter="m1", ts=T0, quantity=Quantity.ENERGY_IMPORT, value=123_456_780),
                Value(
                    meter="m1",
                    ts=T0,
                    quantity=Quantity.VOLTAGE_A,
                    value=229_800,
                    quality=Quality.STALE,
                ),
                Value(
                    meter="m2",
                    ts=T0 - 86_400_000,
                    quantity=Quantity.ENERGY_IMPORT_T4,
                    value=10,
                    quality=Quality.BACKFILLED,
                ),
            ],
        ),
        ReadingBatch,
    ),
    (
        EventBatch(
            agent="agent-1",
            seq=7,
            events=[
                MeterEvent(meter="m1", ts=T0, kind=EventKind.OFFLINE),
                MeterEvent(
                    meter="m1", ts=T0, kind=EventKind.CLOCK_DRIFT, value=-93_000, text="fast"
                ),
            ],
        ),
        EventBatch,
    ),
    (
        AgentBirth(
            agent="agent-1",
            ts=T0,
            version="0.1.0",
            meters=[MeterInfo(meter="m1", protocol="dlt645", address="000000000001")],
        ),
        AgentState,
    ),
    (AgentDeath(agent="agent-1", ts=T0), AgentState),
    (
        Command(
            id="c-1",
            meter="m1",
            kind=CommandKind.DISCONNECT,
            reason="arrears 欠费",
            issued_by="operator:7",
            issued_at=T0,
            not_before=T0,
            not_after=T0 + 3_600_000,
        ),
        Command,
    ),
    (
        CommandAck(
            id="c-1",
            meter="m1",
            state=CommandState.EXECUTED,
            ts=T0 + 5_000,
            relay_state=RelayState.DISCONNECTED,
            attempts=1,
        ),
        CommandAck,
    ),
]


@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize(("message", "type_"), EXAMPLES, ids=lambda x: type(x).__name__)
def test_every_contract_type_round_trips(message: Any, type_: Any, encoding: Encoding) -> None:
    payload = encode(message, encoding)
    assert detect_encoding(payload) is encoding
    assert decode(payload, type_) == message


def test_json_is_the_default_encoding_and_is_readable() -> None:
    payload = encode(EXAMPLES[0][0])
    assert payload.startswith(b'{"agent":"agent-1","seq":42,')
    assert b'"quality"' in payload  # non-default quality is sent
    assert payload.count(b'"quality"') == 2  # the default (good) is omitted


class _OldValue(msgspec.Struct):
    meter: str
    ts: int
    quantity: str
    value: int


class _OldBatch(msgspec.Struct):
    agent: str
    seq: int
    values: list[_OldValue]


def test_an_older_reader_accepts_a_newer_message_with_an_extra_field() -> None:
    newer = (
        b'{"agent":"a","seq":1,"values":[{"meter":"m","ts":1,"quantity":"energy_import",'
        b'"value":5,"phase_angle":12}],"signature":"abc"}'
    )
    old = msgspec.json.decode(newer, type=_OldBatch)
    assert old.values[0].value == 5
    assert decode(newer, ReadingBatch).values[0].value == 5


def test_a_missing_optional_field_takes_its_default() -> None:
    batch = decode(
        b'{"agent":"a","seq":1,"values":[{"meter":"m","ts":1,'
        b'"quantity":"energy_import","value":5}]}',
        ReadingBatch,
    )
    assert batch.values[0].quality is Quality.GOOD
    cmd = decode(
        b'{"id":"c","meter":"m","kind":"reconnect","reason":"paid","issued_by":"x",'
        b'"issued_at":1,"not_after":2}',
        Command,
    )
    assert cmd.not_before == 0


@pytest.mark.parametrize(
    ("payload", "type_", "fragment"),
    [
        (b'{"agent":"a","seq":-1,"values":[]}', ReadingBatch, "at `$.seq`"),
        (
            b'{"agent":"a","seq":1,"values":[{"meter":"m","ts":1,"quantity":"watts","value":1}]}',
            ReadingBatch,
            "Invalid enum value 'watts' - at `$.values[0].quantity`",
        ),
        (
            b'{"agent":"a","seq":1,"values":[{"meter":"m","ts":1,"quantity":"energy_import",'
            b'"value":1.5}]}',
            ReadingBatch,
            "Expected `int`, got `float` - at `$.values[0].value`",
        ),
        (b'{"agent":"a/b","seq":1,"values":[]}', ReadingBatch, "at `$.agent`"),
        (b'{"agent":"a","seq":1}', ReadingBatch, "missing required field `values`"),
        (b'{"state":"zombie","agent":"a","ts":1}', AgentState, "Invalid value 'zombie'"),
        (b'{"agent":"a",', ReadingBatch, "json payload malformed"),
        (b"\x91\x01", ReadingBatch, "neither JSON nor MessagePack"),
        (b"", ReadingBatch, "payload is empty"),
        (b"\x81\xa5agent\x01", ReadingBatch, "msgpack payload invalid"),
    ],
)
def test_malformed_payloads_raise_a_clear_error_naming_field_and_problem(
    payload: bytes, type_: Any, fragment: str
) -> None:
    with pytest.raises(ContractError) as info:
        decode(payload, type_)
    assert fragment in str(info.value)


def test_every_quantity_has_a_unit() -> None:
    assert set(QUANTITIES) == set(Quantity)
    assert QUANTITIES[Quantity.ENERGY_IMPORT].unit == "Wh"
    assert QUANTITIES[Quantity.VOLTAGE_A].unit == "mV"
    assert QUANTITIES[Quantity.CURRENT_B].unit == "mA"
    assert QUANTITIES[Quantity.ENERGY_IMPORT].cumulative
    assert not QUANTITIES[Quantity.ACTIVE_POWER].cumulative


def test_topics_are_per_agent_under_the_versioned_prefix() -> None:
    topic = agent_topic("agent-1", Channel.READINGS)
    assert topic == "meterline/v1/agents/agent-1/readings"
    assert parse_topic(topic) == ("agent-1", Channel.READINGS)
    assert subscription(Channel.READINGS) == "meterline/v1/agents/+/readings"
    assert subscription(Channel.ACKS, share_group="ingest") == (
        "$share/ingest/meterline/v1/agents/+/acks"
    )


@pytest.mark.parametrize(
    "topic",
    [
        "meterline/v2/agents/a/readings",
        "meterline/v1/agents/a/b/readings",
        "meterline/v1/agents/a/telemetry",
        "meterline/v1/agents/a+b/readings",
        "x",
    ],
)
def test_topics_outside_the_contract_are_rejected(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(topic)


def test_an_agent_id_that_cannot_sit_in_a_topic_is_refused() -> None:
    with pytest.raises(TopicError):
        agent_topic("a/#", Channel.STATE)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("value", 2**63 - 1, "Expected `int` <= 999999999999999 - at `$.values[0].value`"),
        ("value", -(10**15), "Expected `int` >= -999999999999999 - at `$.values[0].value`"),
        ("ts", 4_102_444_800_001, "Expected `int` <= 4102444800000 - at `$.values[0].ts`"),
    ],
)
def test_a_reading_beyond_what_a_meter_can_produce_fails_decoding(
    field: str, value: int, problem: str
) -> None:
    one = {"meter": "m1", "ts": 1_763_800_000_000, "quantity": "energy_import", "value": 1}
    payload = msgspec.json.encode({"agent": "a", "seq": 1, "values": [{**one, field: value}]})
    with pytest.raises(ContractError) as info:
        decode(payload, ReadingBatch)
    assert problem in str(info.value)
