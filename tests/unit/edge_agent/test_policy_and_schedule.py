"""The disconnect policy re-check and wall-clock aligned poll times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from edge_agent.config import DisconnectPolicy, PollGroup, Weekday
from edge_agent.policy import disconnect_refusal
from edge_agent.scheduler import next_due

SH = ZoneInfo("Asia/Shanghai")


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=SH).timestamp() * 1000)  # type: ignore[misc]


def test_a_disconnect_is_allowed_on_a_working_day_within_the_hours() -> None:
    assert disconnect_refusal(DisconnectPolicy(), ms(2026, 11, 23, 10, 30), SH) is None  # Mon


def test_a_disconnect_is_refused_in_the_evening_at_weekends_and_on_holidays() -> None:
    policy = DisconnectPolicy(holidays=["2026-11-24"])
    evening = disconnect_refusal(policy, ms(2026, 11, 23, 16, 0), SH)
    saturday = disconnect_refusal(policy, ms(2026, 11, 28, 10, 0), SH)
    holiday = disconnect_refusal(policy, ms(2026, 11, 24, 10, 0), SH)
    assert evening is not None
    assert "outside the allowed hours 09:00-16:00" in evening
    assert saturday is not None
    assert "not a disconnect day" in saturday
    assert holiday is not None
    assert "holiday" in holiday


def test_the_hours_are_local_time_not_utc() -> None:
    # 02:00 UTC on a Monday is 10:00 in Shanghai: allowed
    utc_2am = int(datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    assert disconnect_refusal(DisconnectPolicy(), utc_2am, SH) is None


def test_a_disabled_policy_allows_any_time_and_days_are_configurable() -> None:
    night = ms(2026, 11, 28, 3, 0)
    assert disconnect_refusal(DisconnectPolicy(enabled=False), night, SH) is None
    weekend = DisconnectPolicy(days=[Weekday.SAT], start="00:00", end="23:59")
    assert disconnect_refusal(weekend, night, SH) is None


def test_an_aligned_group_is_due_on_local_quarter_hours() -> None:
    group = PollGroup(name="energy", every_s=900, align=True)
    after = ms(2026, 11, 23, 10, 7, 31) / 1000
    assert next_due(group, after, SH) == ms(2026, 11, 23, 10, 15) / 1000
    on_boundary = ms(2026, 11, 23, 10, 15) / 1000
    assert next_due(group, on_boundary, SH) == ms(2026, 11, 23, 10, 30) / 1000


def test_a_daily_aligned_group_is_due_at_local_midnight() -> None:
    group = PollGroup(name="daily", every_s=86_400, align=True)
    after = ms(2026, 11, 23, 10, 0) / 1000
    assert next_due(group, after, SH) == ms(2026, 11, 24, 0, 0) / 1000


def test_an_unaligned_group_is_due_one_interval_later() -> None:
    group = PollGroup(name="instant", every_s=10)
    assert next_due(group, 1000.5, SH) == 1010.5
