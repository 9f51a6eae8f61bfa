"""Fault specs as the command line and the control port give them."""

from __future__ import annotations

import pytest

from edge_agent.simulators.faults import Fault, FaultKind, garbage, parse_fault


@pytest.mark.parametrize(
    ("text", "target", "fault"),
    [
        ("silent@111111111113", "111111111113", Fault(FaultKind.SILENT)),
        ("slow@3", "3", Fault(FaultKind.SLOW, delay_s=2.0)),
        ("slow:0.25@3", "3", Fault(FaultKind.SLOW, delay_s=0.25)),
        ("garbage@*", "*", Fault(FaultKind.GARBAGE, garbage_bytes=8)),
        ("garbage-only:20@7", "7", Fault(FaultKind.GARBAGE_ONLY, garbage_bytes=20)),
        ("bad-checksum@1", "1", Fault(FaultKind.BAD_CHECKSUM)),
        ("reply-lost@1", "1", Fault(FaultKind.REPLY_LOST)),
        ("silent/0.3@1", "1", Fault(FaultKind.SILENT, probability=0.3)),
    ],
)
def test_a_fault_spec_names_its_kind_parameter_and_meter(
    text: str, target: str, fault: Fault
) -> None:
    assert parse_fault(text) == (target, fault)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("silent", "expected KIND"),
        ("loud@1", "unknown kind 'loud'"),
        ("slow:soon@1", "could not convert"),
        ("silent:3@1", "takes no parameter"),
        ("silent/2@1", "probability"),
        ("garbage:0@1", "at least one byte"),
    ],
)
def test_a_bad_fault_spec_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault(text)


def test_a_probabilistic_fault_strikes_about_that_share_and_repeatably() -> None:
    fault = Fault(FaultKind.SILENT, probability=0.3)
    strikes = [fault.strikes(seed=5, request_number=n) for n in range(2000)]
    assert 0.25 < sum(strikes) / len(strikes) < 0.35
    assert strikes == [fault.strikes(seed=5, request_number=n) for n in range(2000)]


def test_garbage_is_repeatable_and_avoids_the_frame_start() -> None:
    noise = garbage(1, 500, avoid=b"\x68")
    assert len(noise) == 500
    assert b"\x68" not in noise
    assert noise == garbage(1, 500, avoid=b"\x68")
    assert noise != garbage(2, 500, avoid=b"\x68")
