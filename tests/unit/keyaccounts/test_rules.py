"""The pure segmentation rules: R90 classes at their boundaries, ABC by revenue (properties),
the credit rating, and consumption alerts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.keyaccounts import rules
from backend.keyaccounts.rules import (
    DEFAULT_RULES,
    RuleError,
    abc_classes,
    check_conditions,
    consumption_change,
    credit_rating,
    credit_score,
    key_account_classes,
)


def profile(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "org_type": "other",
        "capacity_kva": 0,
        "new_capacity_kva": 0,
        "households": 0,
        "industry_code": "",
        "important": False,
    }
    return {**base, **kw}


# a seeded population, each member just on one side of a boundary of R90
POPULATION: list[tuple[str, dict[str, Any], list[int]]] = [
    ("ministry", profile(org_type="government"), [1]),
    ("hospital", profile(org_type="public_service"), [1]),
    ("factory at 1000 kVA", profile(org_type="industrial", capacity_kva=1000), [2]),
    ("factory at 999 kVA", profile(org_type="industrial", capacity_kva=999), []),
    ("mall at 1500 kVA", profile(org_type="commercial", capacity_kva=1500), [2]),
    ("agriculture bureau", profile(org_type="agriculture_authority"), [3]),
    (
        "community of 2000 households",
        profile(org_type="residential_community", households=2000),
        [4],
    ),
    (
        "community of 1999 households",
        profile(org_type="residential_community", households=1999),
        [],
    ),
    ("designated important user", profile(important=True), [5]),
    ("new connection of 3000 kVA", profile(org_type="other", new_capacity_kva=3000), [6]),
    ("new connection of 2999 kVA", profile(org_type="other", new_capacity_kva=2999), []),
    (
        "plant of 5000 kVA new",
        profile(org_type="industrial", capacity_kva=5000, new_capacity_kva=5000),
        [2, 6],
    ),
    ("household", profile(org_type="residential"), []),
    ("no profile at all", {}, []),
]


@pytest.mark.parametrize(("name", "p", "expected"), POPULATION, ids=[p[0] for p in POPULATION])
def test_the_six_r90_classes_follow_their_thresholds(
    name: str, p: dict[str, Any], expected: list[int]
) -> None:
    assert key_account_classes(p, DEFAULT_RULES) == expected, name


def test_an_edited_rule_moves_the_boundary() -> None:
    edited = {**DEFAULT_RULES, 4: [{"field": "households", "op": ">=", "value": 1500}]}
    assert key_account_classes(profile(households=1500), edited) == [4]
    assert key_account_classes(profile(households=1500), DEFAULT_RULES) == []


def test_a_rule_without_conditions_matches_nobody() -> None:
    assert key_account_classes(profile(important=True), {5: []}) == []


def test_an_industry_prefix_rule_matches_codes_in_that_division() -> None:
    r = {2: [{"field": "industry_code", "op": "prefix", "value": "C30"}]}
    assert key_account_classes(profile(industry_code="C3011"), r) == [2]
    assert key_account_classes(profile(industry_code="C3111"), r) == []


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ({"field": "balance_fen", "op": ">=", "value": 1}, "unknown_field"),
        ({"field": "households", "op": "in", "value": ["1"]}, "unknown_op"),
        ({"field": "households", "op": ">=", "value": "2000"}, "bad_value"),
        ({"field": "households", "op": ">=", "value": -1}, "bad_value"),
        ({"field": "important", "op": "is", "value": 1}, "bad_value"),
        ({"field": "org_type", "op": "in", "value": "government"}, "bad_value"),
    ],
)
def test_malformed_conditions_are_refused_with_a_reason(
    condition: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RuleError) as e:
        check_conditions([condition])
    assert e.value.reason == reason


def test_the_default_rules_are_well_formed() -> None:
    for conds in DEFAULT_RULES.values():
        check_conditions(conds)


# --- ABC ---------------------------------------------------------------------------------------

revenues = st.dictionaries(
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=0, max_value=10**10),
    min_size=1,
    max_size=60,
)
shares = st.tuples(st.integers(1, 10_000), st.integers(1, 10_000)).map(sorted)


@given(revenues, shares)
def test_abc_classes_are_ordered_by_revenue(rev: dict[int, int], ab: list[int]) -> None:
    out = abc_classes(rev, ab[0], ab[1])
    rank = {"A": 0, "B": 1, "C": 2}
    for x in rev:
        for y in rev:
            if rev[x] > rev[y]:
                assert rank[out[x]] <= rank[out[y]]


@given(revenues, shares)
def test_abc_shares_respect_their_thresholds(rev: dict[int, int], ab: list[int]) -> None:
    a_bp, b_bp = ab
    out = abc_classes(rev, a_bp, b_bp)
    total = sum(rev.values())
    ranked = sorted(rev, key=lambda c: (-rev[c], c))
    a_members = [c for c in ranked if out[c] == "A"]
    c_total = sum(rev[c] for c in rev if out[c] == "C")
    if total > 0:
        assert out[ranked[0]] == "A"  # the largest customer is always A
        # the A members before the last one hold less than the A share
        assert sum(rev[c] for c in a_members[:-1]) * 10_000 < a_bp * total
        # C holds at most the share above B's threshold
        assert c_total * 10_000 <= (10_000 - b_bp) * total
    assert all(out[c] == "C" for c in rev if rev[c] == 0)


@given(revenues, shares, st.randoms())
def test_abc_classes_do_not_depend_on_input_order(
    rev: dict[int, int], ab: list[int], rnd: Any
) -> None:
    items = list(rev.items())
    rnd.shuffle(items)
    assert abc_classes(dict(items), ab[0], ab[1]) == abc_classes(rev, ab[0], ab[1])


def test_abc_on_a_known_population() -> None:
    # total 1000: 400 starts at 0 % (A), 300 at 40 % (B), 200 at 70 %, 60 at 90 % (B),
    # 30 at 96 % and 10 at 99 % (C)
    rev = {1: 400, 2: 300, 3: 200, 4: 60, 5: 30, 6: 10, 7: 0}
    assert abc_classes(rev, 3333, 9500) == {1: "A", 2: "B", 3: "B", 4: "B", 5: "C", 6: "C", 7: "C"}


# --- credit ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrears_fen", "late", "cut", "score", "rating"),
    [
        (0, 0, 0, 100, "AAA"),  # always paid on time
        (5_000, 0, 0, 90, "AAA"),  # ¥50 owed today
        (0, 2, 0, 84, "AA"),  # two disconnect warnings this year
        (50_000, 1, 0, 72, "A"),  # ¥500 owed and one warning
        (200_000, 2, 1, 39, "C"),  # ¥2,000 owed, two warnings, cut off once
        (0, 3, 1, 61, "A"),
        (0, 10, 10, 15, "C"),  # penalties are capped: 100 − 40 − 45
        (10**9, 10, 10, 0, "C"),  # floored at 0
    ],
)
def test_credit_rating_examples(
    arrears_fen: int, late: int, cut: int, score: int, rating: str
) -> None:
    assert credit_score(arrears_fen, late, cut) == score
    assert credit_rating(score) == rating


def test_credit_rating_boundaries() -> None:
    assert [credit_rating(s) for s in (90, 89, 75, 74, 60, 59, 40, 39, 0)] == [
        "AAA",
        "AA",
        "AA",
        "A",
        "A",
        "B",
        "B",
        "C",
        "C",
    ]
    assert rules.arrears_penalty(10_000) == 10
    assert rules.arrears_penalty(10_001) == 20


# --- consumption alerts ------------------------------------------------------------------------

USUAL = [10_000] * 56


def test_a_drop_beyond_the_usual_is_an_alert() -> None:
    assert consumption_change(USUAL, [5_000] * 7, 14, 40, 60) == ("drop", 5_000, 10_000)


def test_a_jump_beyond_the_usual_is_an_alert() -> None:
    assert consumption_change(USUAL, [17_000] * 7, 14, 40, 60) == ("jump", 17_000, 10_000)


def test_a_change_within_the_bounds_is_no_alert() -> None:
    assert consumption_change(USUAL, [6_001] * 7, 14, 40, 60) is None
    assert consumption_change(USUAL, [16_000] * 7, 14, 40, 60) is None


def test_the_usual_is_the_median_so_one_odd_day_does_not_move_it() -> None:
    baseline = [10_000] * 20 + [900_000]
    assert consumption_change(baseline, [5_000] * 7, 14, 40, 60) == ("drop", 5_000, 10_000)


def test_too_little_history_gives_no_alert() -> None:
    assert consumption_change([10_000] * 13, [0] * 7, 14, 40, 60) is None
    assert consumption_change(USUAL, [0, 0], 14, 40, 60) is None
