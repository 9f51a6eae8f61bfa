"""Value tags (R97) and service levels (R96, R99, R100): the pure rules, on constructed cases
at their boundaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.keyaccounts import rules


def test_consumption_levels_tag_the_top_and_bottom_fifth() -> None:
    energy = {i: 1000 * i for i in range(1, 11)}  # ten customers, 10 the largest
    levels = rules.consumption_levels(energy)
    assert sorted(c for c, v in levels.items() if v == "high") == [9, 10]
    assert sorted(c for c, v in levels.items() if v == "low") == [1, 2]
    assert all(levels[c] == "medium" for c in range(3, 9))


def test_a_customer_without_energy_is_low_and_never_high() -> None:
    assert rules.consumption_levels({1: 0}) == {1: "low"}
    assert rules.consumption_levels({1: 0, 2: 0, 3: 5}) == {3: "high", 1: "low", 2: "low"}


@given(st.dictionaries(st.integers(1, 500), st.integers(0, 10**9), max_size=60))
def test_more_energy_never_gets_a_lower_level(energy: dict[int, int]) -> None:
    levels = rules.consumption_levels(energy)
    rank = {"low": 0, "medium": 1, "high": 2}
    for a in energy:
        for b in energy:
            if energy[a] > energy[b]:
                assert rank[levels[a]] >= rank[levels[b]]


def test_growth_needs_two_weeks_in_each_window_and_twenty_percent() -> None:
    assert rules.growth([100] * 13, [200] * 30) is None
    assert rules.growth([100] * 30, [120] * 30) == "growing"
    assert rules.growth([100] * 30, [119] * 30) is None
    assert rules.growth([100] * 30, [80] * 30) == "declining"
    assert rules.growth([100] * 30, [81] * 30) is None
    assert rules.growth([0] * 30, [1] * 14) == "growing"
    assert rules.growth([0] * 30, [0] * 30) is None


def test_computed_tags_follow_payment_credit_value_and_growth() -> None:
    good = {"arrears_fen": 0, "late_payments": 0, "disconnections": 0}
    assert rules.computed_tags(
        classes=[1], abc="A", rating="AAA", inputs=good, level="high", trend="growing"
    ) == [
        "consumption_high",
        "pays_on_time",
        "credit_excellent",
        "growing",
        "profit_value",
        "safety_value",
        "potential",
    ]
    bad = {"arrears_fen": 50_000, "late_payments": 1, "disconnections": 1}
    assert rules.computed_tags(
        classes=[4], abc="C", rating="B", inputs=bad, level="low", trend="declining"
    ) == ["consumption_low", "pays_late", "in_arrears", "credit_poor", "declining", "social_value"]
    one_late = {"arrears_fen": 0, "late_payments": 1, "disconnections": 0}
    assert rules.computed_tags(
        classes=[6], abc="B", rating="AA", inputs=one_late, level="medium", trend=None
    ) == ["potential"]


def test_service_levels_follow_class_value_and_credit() -> None:
    assert rules.service_level([1], "C", "A") == "vip"
    assert rules.service_level([], "A", "A") == "vip"
    assert rules.service_level([4], "C", "A") == "priority"
    assert rules.service_level([], "B", "AA") == "priority"
    assert rules.service_level([], "B", "A") == "standard"
    assert rules.service_level([2], "A", "C") == "standard"  # R99: poor credit, narrower
    assert rules.DEADLINE_PCT == {"vip": 50, "priority": 75, "standard": 100}
