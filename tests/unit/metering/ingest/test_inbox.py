"""Classifying received messages: what becomes a dead letter, and why, named by field."""

from __future__ import annotations

from backend.metering.ingest.inbox import Item, classify
from backend.metering.ingest.plan import MeterRef, build_plan
from backend.metering.ingest.stats import Histogram
from backend.metering.partitions import month_bounds
from protocols.contract import Encoding, Quantity, ReadingBatch, Value, encode

TOPIC = "meterline/v1/agents/agent-1/readings"


def _batch(*meters: str, agent: str = "agent-1") -> bytes:
    values = [Value(meter=m, ts=1, quantity=Quantity.ENERGY_IMPORT, value=5) for m in meters]
    return encode(ReadingBatch(agent=agent, seq=3, values=values))


def test_a_topic_outside_the_contract_is_a_dead_letter_naming_it() -> None:
    item = classify(Item("meterline/v1/agents/a b/readings", _batch("m1")))
    assert item.reason == ("topic 'meterline/v1/agents/a b/readings': agent id 'a b' is not valid")
    item = classify(Item("meterline/v1/agents/agent-1/commands", b"{}"))
    assert item.reason == (
        "topic 'meterline/v1/agents/agent-1/commands': channel 'commands' is not ingested"
    )


def test_a_good_readings_batch_carries_its_meters_seq_and_size() -> None:
    item = classify(Item(TOPIC, _batch("m1", "m2", "m1")))
    assert item.reason is None
    assert (item.seq, item.size, item.meters) == (3, 3, frozenset({"m1", "m2"}))


def test_messagepack_decodes_like_json() -> None:
    values = [Value(meter="m1", ts=1, quantity=Quantity.VOLTAGE_A, value=230_000)]
    payload = encode(ReadingBatch(agent="agent-1", seq=1, values=values), Encoding.MSGPACK)
    assert classify(Item(TOPIC, payload)).message == ReadingBatch(
        agent="agent-1", seq=1, values=values
    )


def test_an_empty_retained_state_is_ignored_not_dead_lettered() -> None:
    item = classify(Item("meterline/v1/agents/agent-1/state", b""))
    assert (item.reason, item.message) == (None, None)


def test_a_seq_beyond_64_bits_is_refused_before_the_database_sees_it() -> None:
    item = classify(Item(TOPIC, b'{"agent": "agent-1", "seq": 9223372036854775808, "values": []}'))
    assert (
        item.reason
        == "seq 9223372036854775808 is out of range (at most 9223372036854775807) - at `$.seq`"
    )


def test_values_for_meters_of_another_agent_are_left_out_and_named_in_a_dead_letter() -> None:
    item = classify(Item(TOPIC, _batch("mine", "theirs")))
    refs = {"mine": MeterRef(1, "agent-1"), "theirs": MeterRef(2, "agent-9")}
    plan = build_plan([item], refs, {}, 0.0)
    assert [r[0] for r in plan.rows] == [1]
    assert [d[2] for d in plan.dead] == [
        "not stored for agent 'agent-1': meter 'theirs' is assigned to agent 'agent-9'"
    ]


def test_latency_percentiles_are_exact_to_one_bucket() -> None:
    h = Histogram()
    h.add_many([0.001] * 98 + [0.5, 2.0])
    assert 0.00096 <= h.percentile(50) <= 0.00105
    assert 0.48 <= h.percentile(99) <= 0.52
    assert h.percentile(100) == 2.0


def test_month_bounds_are_utc_calendar_months_in_epoch_ms() -> None:
    assert month_bounds(2026, 12) == (1_796_083_200_000, 1_798_761_600_000)
    assert month_bounds(2026, 13) == month_bounds(2027, 1)
