"""The plausibility rules, pure: which readings are held, and why."""

from __future__ import annotations

from backend.metering.intervals import Point
from backend.metering.quarantine.rules import (
    REGISTER_MAX_WH,
    Chains,
    HoldReason,
    Limits,
    Rating,
    judge,
    max_jump_wh,
)

NOW = 1_763_800_000_000
HOUR = 3_600_000
LIMITS = Limits(skew_ms=15 * 60_000, margin=1.5)
E = "energy_import"


def reason(quantity: str, ts: int, value: int, previous: Point | None = None) -> HoldReason | None:
    hold = judge(quantity, ts, value, NOW, LIMITS, rating=Rating(), previous=previous)
    return None if hold is None else hold.reason


def test_a_negative_energy_register_is_held_but_a_negative_power_is_not() -> None:
    assert reason(E, NOW, -7_000) is HoldReason.NEGATIVE
    assert reason("reactive_power", NOW, -7_000) is None


def test_a_reading_ahead_of_the_server_beyond_the_skew_allowance_is_held() -> None:
    assert reason(E, NOW + 15 * 60_000, 1) is None
    assert reason(E, NOW + 15 * 60_000 + 1, 1) is HoldReason.FUTURE
    assert reason("voltage_a", NOW + 365 * 24 * HOUR, 230_000) is HoldReason.FUTURE


def test_a_register_beyond_every_registers_range_is_held() -> None:
    assert reason(E, NOW, REGISTER_MAX_WH - 1) is None
    assert reason(E, NOW, REGISTER_MAX_WH) is HoldReason.OUT_OF_RANGE
    assert reason(E, NOW, 10**13) is HoldReason.OUT_OF_RANGE


def test_a_jump_beyond_rated_power_times_the_margin_is_held_with_its_figures() -> None:
    previous = Point(NOW - HOUR, 1_000_000)
    allowed = max_jump_wh(Rating(), HOUR, 1.5)
    assert allowed == 60 * 220 * 1.5
    assert reason(E, NOW, 1_000_000 + allowed, previous) is None
    hold = judge(E, NOW, 1_000_000 + allowed + 1, NOW, LIMITS, rating=Rating(), previous=previous)
    assert hold is not None
    assert hold.reason is HoldReason.JUMP
    assert hold.params["jump_wh"] == allowed + 1
    assert hold.params["allowed_wh"] == allowed


def test_a_three_phase_meter_may_pass_three_times_as_much() -> None:
    previous = Point(NOW - HOUR, 0)
    three = Rating(current_a=60, voltage_v=220, phases=3)
    assert judge(E, NOW, 50_000, NOW, LIMITS, rating=three, previous=previous) is None
    assert reason(E, NOW, 50_000, previous) is HoldReason.JUMP


def test_a_rollover_is_measured_across_the_wrap_and_a_dip_is_left_to_the_derivation() -> None:
    near_wrap = Point(NOW - HOUR, 10**9 - 1_000)
    assert reason(E, NOW, 500, near_wrap) is None  # 1,500 Wh across the wrap
    assert reason(E, NOW, 5 * 10**8, near_wrap) is None  # not a wrap: a dip, refused later
    assert reason(E, NOW, 50_000, near_wrap) is HoldReason.JUMP  # 51 kWh across the wrap


def test_the_chain_memory_keeps_the_newest_reading_and_stays_bounded() -> None:
    chains = Chains(limit=2)
    chains.accept(1, E, Point(10, 1))
    chains.accept(1, E, Point(5, 0))  # older: ignored
    assert chains.get(1, E) == Point(10, 1)
    chains.accept(2, E, Point(10, 1))
    chains.accept(3, E, Point(10, 1))  # over the limit: starts afresh
    assert (chains.get(1, E), chains.get(3, E)) == (None, Point(10, 1))
