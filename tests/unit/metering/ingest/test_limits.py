"""Limits before decoding: the byte scans agree with a real parser on depth, never raise, and
a payload over a limit becomes a dead letter before any decoder sees it."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.metering.ingest import limits
from backend.metering.ingest.inbox import Item, classify
from protocols.contract import Encoding, Quantity, ReadingBatch, Value, encode

TOPIC = "meterline/v1/agents/agent-1/readings"


def tree(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=20)
            | st.dictionaries(st.text(max_size=6), children, max_size=4)
        ),
        max_leaves=40,
    )


scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=40)
json_values = tree(scalars | st.floats(allow_nan=False, allow_infinity=False))
# MessagePack also has binaries (bin 8/16) and floats of both widths
msgpack_values = tree(scalars | st.floats(width=32) | st.floats() | st.binary(max_size=300))


def depth_of(value: Any) -> int:
    if isinstance(value, list | tuple):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


def nested(depth: int, filler: bytes = b"") -> bytes:
    return b'{"agent":"agent-1","seq":1,"x":' + b"[" * depth + filler + b"]" * depth + b"}"


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_json_scan_finds_the_depth_a_parser_finds(value: Any) -> None:
    payload = json.dumps(value).encode()
    assert limits.json_depth(payload) == depth_of(value)


@settings(max_examples=300, deadline=None)
@given(msgpack_values)
def test_the_msgpack_scan_finds_the_depth_a_parser_finds(value: Any) -> None:
    payload = msgspec.msgpack.encode(value)
    assert limits.msgpack_depth(payload, 1_000) == depth_of(value)


def test_brackets_and_escaped_quotes_inside_strings_do_not_count() -> None:
    assert limits.json_depth(b'{"a":"[[[[{{{"}') == 1
    assert limits.json_depth(b'{"a\\"[[":"\\\\","b":"x\\"]]"}') == 1
    assert limits.json_depth(b'["[", "]", ["]"]]') == 2


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2_000))
def test_any_bytes_give_a_reason_or_none_and_never_raise(payload: bytes) -> None:
    reason = limits.check(payload, max_bytes=1_500, max_depth=4)
    assert reason is None or isinstance(reason, str)
    for prefix in (b"\x81", b"\xde", b"{"):
        reason = limits.check(prefix + payload, max_bytes=1_500, max_depth=4)
        assert reason is None or "limit" in reason


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=500), st.integers(min_value=17, max_value=5_000))
def test_deep_nesting_is_refused_whatever_surrounds_it(filler: bytes, depth: int) -> None:
    filler = filler.replace(b"]", b"").replace(b"}", b"").replace(b'"', b"").replace(b"\\", b"")
    assert limits.check(nested(depth, filler)) == (
        "json payload nested deeper than the limit of 16 levels"
    )


def test_a_deeply_nested_readings_payload_is_a_dead_letter_not_a_recursion_error() -> None:
    item = classify(Item(TOPIC, nested(50_000)))
    assert item.message is None
    assert item.reason == "json payload nested deeper than the limit of 16 levels"
    packed = b"\x83\xa5agent\xa7agent-1\xa3seq\x01\xa1x" + b"\x91" * 50_000 + b"\x90"
    item = classify(Item(TOPIC, packed))
    assert item.reason == "msgpack payload nested deeper than the limit of 16 levels"


def test_an_oversized_payload_is_a_dead_letter_keeping_only_its_head() -> None:
    payload = b'{"agent":"agent-1","seq":1,"values":[],"x":"' + b"a" * 5_000_000 + b'"}'
    item = classify(Item(TOPIC, payload))
    assert item.reason == "payload of 5000046 bytes is larger than the limit of 4194304 bytes"
    assert item.payload == payload[: limits.KEEP_BYTES]


def test_contract_payloads_in_both_encodings_pass_the_limits() -> None:
    values = [
        Value(meter=f"m{i}", ts=1, quantity=Quantity.ENERGY_IMPORT, value=i) for i in range(100)
    ]
    batch = ReadingBatch(agent="agent-1", seq=1, values=values)
    for encoding in Encoding:
        item = classify(Item(TOPIC, encode(batch, encoding)))
        assert (item.reason, item.message) == (None, batch)


def test_refusals_are_logged_once_per_period_with_a_count_of_the_rest(caplog: Any) -> None:
    log = limits.RefusalLog(limits.logging.getLogger("test.refusals"), every_s=3600)
    with caplog.at_level("WARNING", logger="test.refusals"):
        for _ in range(1_000):
            log("t", "too deep")
    assert log.refused == 1_000
    assert len(caplog.records) == 1


def test_the_largest_legal_readings_batch_is_within_the_size_limit() -> None:
    values = [
        Value(meter=f"{i:064d}", ts=2**62, quantity=Quantity.ENERGY_IMPORT, value=-(2**63))
        for i in range(10_000)
    ]
    payload = encode(ReadingBatch(agent="a" * 64, seq=2**62, values=values))
    assert len(payload) < limits.MAX_PAYLOAD_BYTES
    assert limits.check(payload) is None
