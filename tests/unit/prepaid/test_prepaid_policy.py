"""The disconnect policy, one test per blackout rule, on China's 2026 calendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.prepaid.policy import (
    AccountFacts,
    HolidayCalendar,
    PolicyConfig,
    PolicyError,
    PolicyText,
    explain,
)

TZ = ZoneInfo("Asia/Shanghai")
CONFIG = PolicyConfig(calendar=HolidayCalendar.load())


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def facts(now: datetime, **kw: object) -> AccountFacts:
    base: dict[str, object] = {
        "account_id": 1,
        "balance_fen": -500,
        "warning_delivered_at": now - timedelta(hours=48),
    }
    base.update(kw)
    return AccountFacts(**base)  # type: ignore[arg-type]


def failed(decision) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.rule for r in decision.reasons if not r.ok}


def test_an_account_in_arrears_on_a_working_morning_after_a_warning_is_due() -> None:
    now = at(2026, 5, 6, 10)  # Wednesday
    d = explain(facts(now), now, CONFIG)
    assert d.due
    assert failed(d) == set()
    assert d.next_allowed_at == now


def test_no_disconnect_on_a_weekend() -> None:
    now = at(2026, 5, 16, 10)  # Saturday
    d = explain(facts(now), now, CONFIG)
    assert not d.due
    assert failed(d) == {"working_day"}
    assert d.next_allowed_at == at(2026, 5, 18, 9)  # Monday 09:00


def test_no_disconnect_on_a_public_holiday() -> None:
    now = at(2026, 10, 7, 10)  # 国庆, last day (Wednesday)
    d = explain(facts(now), now, CONFIG)
    assert failed(d) == {"working_day"}
    assert "public holiday" in next(r.message for r in d.reasons if r.rule == "working_day")
    assert d.next_allowed_at == at(2026, 10, 8, 9)


def test_no_disconnect_on_the_day_before_a_public_holiday() -> None:
    now = at(2026, 9, 24, 10)  # Thursday before 中秋
    d = explain(facts(now), now, CONFIG)
    assert failed(d) == {"holiday_eve"}
    assert d.next_allowed_at == at(2026, 9, 28, 9)


def test_a_make_up_working_day_allows_disconnects() -> None:
    now = at(2026, 2, 28, 10)  # Saturday worked (调休)
    d = explain(facts(now), now, CONFIG)
    assert d.due
    assert "make-up working day" in next(r.message for r in d.reasons if r.rule == "working_day")


def test_no_disconnect_outside_the_hours_so_same_day_reconnection_stays_possible() -> None:
    now = at(2026, 5, 6, 16, 30)
    d = explain(facts(now), now, CONFIG)
    assert failed(d) == {"hours"}
    assert d.next_allowed_at == at(2026, 5, 7, 9)


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"protected": True}, "protected customer"), ({"key_account_class": 1}, "class 1")],
)
def test_a_protected_customer_is_never_due(kw: dict[str, object], message: str) -> None:
    now = at(2026, 5, 6, 10)
    d = explain(facts(now, **kw), now, CONFIG)
    assert failed(d) == {"protected"}
    assert message in next(r.message for r in d.reasons if r.rule == "protected")
    assert d.next_allowed_at is None


def test_no_disconnect_before_a_warning_was_delivered() -> None:
    now = at(2026, 5, 6, 10)
    d = explain(facts(now, warning_delivered_at=None), now, CONFIG)
    assert failed(d) == {"warning"}
    assert d.next_allowed_at == at(2026, 5, 7, 10)  # if warned now: 24 h later


def test_no_disconnect_while_the_warning_is_too_recent() -> None:
    now = at(2026, 5, 6, 10)
    d = explain(facts(now, warning_delivered_at=now - timedelta(hours=10)), now, CONFIG)
    assert failed(d) == {"warning"}
    assert d.next_allowed_at == at(2026, 5, 7, 0) + timedelta(hours=9)  # 14 h on: 00:00 → 09:00


def test_friendly_credit_accrues_as_debt_until_the_credit_limit() -> None:
    now = at(2026, 5, 6, 10)
    within = explain(facts(now, balance_fen=-3_000, credit_limit_fen=5_000), now, CONFIG)
    beyond = explain(facts(now, balance_fen=-5_001, credit_limit_fen=5_000), now, CONFIG)
    assert failed(within) == {"arrears"}
    assert within.next_allowed_at is None
    assert beyond.due


def test_a_bad_disconnect_window_is_refused_with_its_text() -> None:
    with pytest.raises(PolicyError, match="'16:00-09:00' ends before it starts"):
        PolicyConfig.parse_window("16:00-09:00")


def test_every_reason_carries_a_code_and_its_parameters_for_people() -> None:
    now = at(2026, 5, 6, 10)  # Wednesday
    warned = now - timedelta(hours=48)
    d = explain(facts(now, warning_delivered_at=warned), now, CONFIG)
    assert [(r.rule, r.code) for r in d.reasons] == [
        ("arrears", PolicyText.ARREARS_BELOW),
        ("protected", PolicyText.NOT_PROTECTED),
        ("supply", PolicyText.SUPPLY_ON),
        ("warning", PolicyText.WARNED_LONG_AGO),
        ("working_day", PolicyText.WORKING_DAY),
        ("holiday_eve", PolicyText.NOT_HOLIDAY_EVE),
        ("hours", PolicyText.IN_HOURS),
    ]
    params = {r.rule: r.params for r in d.reasons}
    assert params["arrears"] == {"balance_fen": -500, "threshold_fen": 0}
    assert params["warning"] == {"warned_at": int(warned.timestamp() * 1000), "hours": 24}
    assert params["working_day"] == {"day": "2026-05-06"}
    assert params["hours"] == {
        "local_time": "10:00",
        "window_start": "09:00",
        "window_end": "16:00",
    }


def test_the_codes_follow_the_verdicts() -> None:
    now = at(2026, 10, 7, 17)  # 国庆, after hours
    d = explain(
        facts(now, balance_fen=-100, credit_limit_fen=500, protected=True, supply_on=False,
              warning_delivered_at=now - timedelta(hours=1)),
        now, CONFIG,
    )  # fmt: skip
    assert [r.code for r in d.reasons] == [
        PolicyText.ARREARS_NOT_BELOW_CREDIT,
        PolicyText.PROTECTED,
        PolicyText.SUPPLY_OFF,
        PolicyText.WARNED_RECENTLY,
        PolicyText.PUBLIC_HOLIDAY,
        PolicyText.NOT_HOLIDAY_EVE,
        PolicyText.OUT_OF_HOURS,
    ]
    assert d.reasons[0].params == {
        "balance_fen": -100,
        "threshold_fen": -500,
        "credit_limit_fen": 500,
    }
