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
