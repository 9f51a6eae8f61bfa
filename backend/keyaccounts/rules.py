"""The pure rules of segmentation: R90 key-account classes, ABC by revenue, the credit rating
(信用等级) and the consumption alerts. No database, no clock: docs/key-accounts.md states each one
and the tests call them directly."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

# --- R90: the six key-account classes, as data -------------------------------------------------

# the fields a condition may look at, and the operators that make sense for each
FIELDS: dict[str, frozenset[str]] = {
    "org_type": frozenset({"in"}),
    "capacity_kva": frozenset({">="}),
    "new_capacity_kva": frozenset({">="}),
    "households": frozenset({">="}),
    "industry_code": frozenset({"prefix"}),
    "important": frozenset({"is"}),
}

# R90, with the thresholds requirements.md states (2000 households, 3000 kVA new capacity); class
# 2's 1000 kVA is this project's default for "large" (the source gives none) and is editable
DEFAULT_RULES: dict[int, list[dict[str, Any]]] = {
    1: [{"field": "org_type", "op": "in", "value": ["government", "public_service"]}],
    2: [
        {"field": "org_type", "op": "in", "value": ["industrial", "commercial"]},
        {"field": "capacity_kva", "op": ">=", "value": 1000},
    ],
    3: [{"field": "org_type", "op": "in", "value": ["agriculture_authority"]}],
    4: [{"field": "households", "op": ">=", "value": 2000}],
    5: [{"field": "important", "op": "is", "value": True}],
    6: [{"field": "new_capacity_kva", "op": ">=", "value": 3000}],
}


class RuleError(ValueError):
    """A condition that names an unknown field or an operator the field does not take."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_conditions(conditions: Sequence[Mapping[str, Any]]) -> None:
    """Raise RuleError unless every condition is well formed (a rule with none matches nobody)."""
    for c in conditions:
        field, op, value = c.get("field"), c.get("op"), c.get("value")
        if not isinstance(field, str) or field not in FIELDS:
            raise RuleError(str(field), "unknown_field")
        if op not in FIELDS[field]:
            raise RuleError(field, "unknown_op")
        ok = {
            "in": isinstance(value, list) and all(isinstance(v, str) for v in value),
            ">=": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            "prefix": isinstance(value, str) and 0 < len(value) <= 8,
            "is": isinstance(value, bool),
        }[str(op)]
        if not ok:
            raise RuleError(field, "bad_value")


def _holds(condition: Mapping[str, Any], profile: Mapping[str, Any]) -> bool:
    have = profile.get(condition["field"])
    op, value = condition["op"], condition["value"]
    if op == "in":
        return have in value
    if op == ">=":
        return isinstance(have, int) and have >= value
    if op == "prefix":
        return isinstance(have, str) and have.startswith(value)
    return have is value or have == value  # "is"


def key_account_classes(
    profile: Mapping[str, Any], rules: Mapping[int, Sequence[Mapping[str, Any]]]
) -> list[int]:
    """Every class whose conditions all hold, in class order; an empty rule matches nobody."""
    return sorted(
        k for k, conds in rules.items() if conds and all(_holds(c, profile) for c in conds)
    )


# --- R95: ABC by annual revenue ----------------------------------------------------------------

DEFAULT_A_SHARE_BP = 3333  # A: the customers who start within the first third of revenue
DEFAULT_B_SHARE_BP = 9500  # B: … within 95 %; C: the rest (at most 5 % of revenue)


def abc_classes(revenue_fen: Mapping[int, int], a_bp: int, b_bp: int) -> dict[int, str]:
    """Rank by revenue (largest first, ties by id); a customer's class is set by the share of
    total revenue ranked *ahead* of them: below ``a_bp`` basis points → A, below ``b_bp`` → B,
    else C. So the largest customer is always A, A's members other than the last hold less than
    a_bp of revenue, and C holds at most (10000 − b_bp) bp. No revenue at all → C."""
    total = sum(max(0, v) for v in revenue_fen.values())
    ranked = sorted(revenue_fen, key=lambda c: (-revenue_fen[c], c))
    out: dict[int, str] = {}
    ahead = 0
    for cid in ranked:
        rev = max(0, revenue_fen[cid])
        if rev == 0 or total == 0:
            out[cid] = "C"
        elif ahead * 10_000 < a_bp * total:
            out[cid] = "A"
        elif ahead * 10_000 < b_bp * total:
            out[cid] = "B"
        else:
            out[cid] = "C"
        ahead += rev
    return out


# --- R99: credit rating (信用等级) from payment history -----------------------------------------

RATINGS: tuple[tuple[int, str], ...] = ((90, "AAA"), (75, "AA"), (60, "A"), (40, "B"), (0, "C"))


def arrears_penalty(arrears_fen: int) -> int:
    if arrears_fen <= 0:
        return 0
    if arrears_fen <= 10_000:  # up to ¥100
        return 10
    if arrears_fen <= 100_000:  # up to ¥1,000
        return 20
    return 30


def credit_score(arrears_fen: int, late_payments: int, disconnections: int) -> int:
    """100 − arrears penalty (0/10/20/30) − 8 per late payment (at most 40) − 15 per
    disconnection (at most 45), floored at 0. Inputs cover the last 12 months."""
    score = (
        100
        - arrears_penalty(arrears_fen)
        - min(40, 8 * max(0, late_payments))
        - min(45, 15 * max(0, disconnections))
    )
    return max(0, score)


def credit_rating(score: int) -> str:
    return next(r for floor, r in RATINGS if score >= floor)


# --- R94: consumption alerts -------------------------------------------------------------------

DEFAULT_ALERTS: dict[str, int] = {
    "recent_days": 7,  # compare the mean of the last 7 days …
    "baseline_days": 56,  # … with the median day of the 56 before them
    "min_baseline_days": 14,  # no usual without two weeks of history
    "drop_pct": 40,  # alert below usual × (1 − 40 %)
    "jump_pct": 60,  # alert above usual × (1 + 60 %)
    "contract_warning_days": 60,  # expiring contract
}


def consumption_change(
    baseline: Sequence[int],
    recent: Sequence[int],
    min_baseline_days: int,
    drop_pct: int,
    jump_pct: int,
    min_recent_days: int = 3,
) -> tuple[str, int, int] | None:
    """Daily Wh of the days with data: ``baseline`` (the usual) and ``recent``. The usual is the
    median baseline day; the recent level is the mean recent day (integer Wh). Returns
    ("drop"|"jump", recent Wh/day, usual Wh/day), or None when within bounds or too little data."""
    if len(baseline) < min_baseline_days or len(recent) < min_recent_days:
        return None
    usual = int(statistics.median(baseline))
    mean = sum(recent) // len(recent)
    if usual <= 0:
        return ("jump", mean, usual) if mean > 0 else None
    if mean * 100 < usual * (100 - drop_pct):
        return ("drop", mean, usual)
    if mean * 100 > usual * (100 + jump_pct):
        return ("jump", mean, usual)
    return None


# --- R97: value tags computed from the data ------------------------------------------------------

LEVEL_SHARE_PCT = 20  # consumption_high: the top 20 % by energy; consumption_low: the bottom 20 %
GROWTH_WINDOW_DAYS = 30  # growth: the mean day of the last 30 days against the 30 before
GROWTH_MIN_DAYS = 14  # … each window with at least 14 days of data
GROWTH_PCT = 20  # ± 20 % is growing / declining

# every tag the run computes, in the order they are shown (docs/key-accounts.md)
COMPUTED_TAGS = (
    "consumption_high",
    "consumption_low",
    "pays_on_time",
    "pays_late",
    "in_arrears",
    "credit_excellent",
    "credit_poor",
    "growing",
    "declining",
    "profit_value",
    "safety_value",
    "social_value",
    "potential",
)


def consumption_levels(energy_wh: Mapping[int, int]) -> dict[int, str]:
    """Rank by the year's energy (largest first, ties by id): the first ⌈20 %⌉ with any energy
    are "high", the last ⌊20 %⌋ and everyone without energy "low", the rest "medium"."""
    n = len(energy_wh)
    top = -(-n * LEVEL_SHARE_PCT // 100)
    bottom = n * LEVEL_SHARE_PCT // 100
    ranked = sorted(energy_wh, key=lambda c: (-energy_wh[c], c))
    out: dict[int, str] = {}
    for i, cid in enumerate(ranked):
        if energy_wh[cid] <= 0 or i >= n - bottom:
            out[cid] = "low"
        elif i < top:
            out[cid] = "high"
        else:
            out[cid] = "medium"
    return out


def growth(previous: Sequence[int], recent: Sequence[int]) -> str | None:
    """ "growing" or "declining" when the mean recent day differs from the mean previous day by
    at least GROWTH_PCT; None with too little data or within bounds. From nothing to any use is
    growing."""
    if len(previous) < GROWTH_MIN_DAYS or len(recent) < GROWTH_MIN_DAYS:
        return None
    before = sum(previous) * len(recent)  # compare the means without division
    after = sum(recent) * len(previous)
    if before <= 0:
        return "growing" if after > 0 else None
    if after * 100 >= before * (100 + GROWTH_PCT):
        return "growing"
    if after * 100 <= before * (100 - GROWTH_PCT):
        return "declining"
    return None


def computed_tags(
    *,
    classes: Sequence[int],
    abc: str,
    rating: str,
    inputs: Mapping[str, int],
    level: str,
    trend: str | None,
) -> list[str]:
    """The value tags of one customer (R97), in COMPUTED_TAGS order."""
    late, cut = inputs.get("late_payments", 0), inputs.get("disconnections", 0)
    arrears = inputs.get("arrears_fen", 0)
    have = {
        "consumption_high": level == "high",
        "consumption_low": level == "low",
        "pays_on_time": late == 0 and cut == 0 and arrears == 0,
        "pays_late": late >= 2 or cut >= 1,
        "in_arrears": arrears > 0,
        "credit_excellent": rating == "AAA",
        "credit_poor": rating in ("B", "C"),
        "growing": trend == "growing",
        "declining": trend == "declining",
        "profit_value": abc == "A",  # 利润价值客户
        "safety_value": bool({1, 5} & set(classes)),  # 安全价值客户: stability, grid security
        "social_value": bool({3, 4} & set(classes)),  # 社会价值客户
        "potential": 6 in classes or trend == "growing",  # 潜在价值
    }
    return [t for t in COMPUTED_TAGS if have[t]]


# --- R96, R99, R100: differentiated service levels ---------------------------------------------

# the share of a work-order node's deadline a customer of the level gets (percent)
DEADLINE_PCT = {"vip": 50, "priority": 75, "standard": 100}


def service_level(classes: Sequence[int], abc: str, rating: str) -> str:
    """vip (one-to-one, green channel): key-account class 1, 2 or 5, or ABC A; priority: any
    other key-account class, or ABC B with a credit rating of AA or better; standard: everyone
    else. A credit rating of C lowers any level to standard (R99: a narrower service)."""
    if rating == "C":
        return "standard"
    if {1, 2, 5} & set(classes) or abc == "A":
        return "vip"
    if classes or (abc == "B" and rating in ("AAA", "AA")):
        return "priority"
    return "standard"
