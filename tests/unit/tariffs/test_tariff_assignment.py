"""An account's tariff assignments: the rating switches schedule exactly at the assignment's
local midnight, the tier counter of the cycle carries across the switch, and the customer's
tier and what is left in it. Every amount was worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.model import Period, TariffError
from backend.tariffs.rating import AccountSchedule, Schedule, rate_interval
from backend.tariffs.service import in_force, tier_now

TZ = ZoneInfo("Asia/Shanghai")
D = Decimal
ZJ = Path(DEFAULT_FILE).parent / "examples" / "zhejiang_residential_2026.toml"
JAN1 = date(2026, 1, 1)


def ms(y: int, mo: int, d: int, h: int = 0) -> int:
    return int(datetime(y, mo, d, h, tzinfo=TZ).timestamp() * 1000)


def schedules() -> dict[str, Schedule]:
    tariffs = load_file(DEFAULT_FILE) + load_file(ZJ)
    keys = {t.schedule_key for t in tariffs}
    return {k: Schedule([t for t in tariffs if t.schedule_key == k]) for k in keys}


def test_the_zhejiang_file_has_a_flat_and_a_time_of_use_schedule_for_households() -> None:
    s = schedules()
    assert s["zj-residential"].at(JAN1).prices[Period.FLAT] == (D("0.538"), D("0.588"), D("0.838"))
    tou = s["zj-residential-tou"].at(JAN1)
    assert tou.prices[Period.VALLEY] == (D("0.288"), D("0.338"), D("0.588"))
    assert tou.tiers_wh == (2_760_000, 4_800_000)


def test_an_interval_across_the_assignment_midnight_is_priced_on_both_sides() -> None:
    s = schedules()
    account = AccountSchedule(s["residential"], [(date(2026, 3, 1), s["zj-residential-tou"])])
    counters: dict[date, int] = {}
    # 22:00 on 28 Feb to 02:00 on 1 Mar, 4 kWh: 2 kWh on RES-2026 flat tier 1 (0.4883),
    # 2 kWh on the TOU tariff's valley tier 1 (0.288)
    lines = rate_interval(account, TZ, JAN1, ms(2026, 2, 28, 22), ms(2026, 3, 1, 2), 4000, counters)
    got = sorted((ln.tariff, ln.period, ln.tier, ln.wh, ln.amount) for ln in lines)
    assert got == [
        ("RES-2026", Period.FLAT, 1, 2000, D("0.9766")),
        ("ZJ-RES-TOU-2026", Period.VALLEY, 1, 2000, D("0.576")),
    ]
    assert counters == {JAN1: 4000}


def test_the_tier_counter_of_the_year_carries_across_a_switch_of_tariff() -> None:
    s = schedules()
    account = AccountSchedule(s["residential"], [(date(2026, 3, 1), s["zj-residential-tou"])])
    counters = {JAN1: 2_759_000}  # billed on RES-2026 in January and February
    # 03:00-05:00 on 1 Mar, 2 kWh in the valley: 1 kWh left in tier 1 (0.288), 1 kWh tier 2
    lines = rate_interval(account, TZ, JAN1, ms(2026, 3, 1, 3), ms(2026, 3, 1, 5), 2000, counters)
    got = sorted((ln.tier, ln.wh, ln.price) for ln in lines)
    assert got == [(1, 1000, D("0.288")), (2, 1000, D("0.338"))]
    assert counters == {JAN1: 2_761_000}


def test_a_later_assignment_ends_the_earlier_one_and_nothing_before_the_first_is_unbilled() -> None:
    s = schedules()
    account = AccountSchedule(
        s["residential"],
        [(date(2026, 3, 1), s["zj-residential-tou"]), (date(2026, 6, 1), s["zj-residential"])],
    )
    assert account.at(date(2026, 2, 28)).code == "RES-2026"
    assert account.at(date(2026, 3, 1)).code == "ZJ-RES-TOU-2026"
    assert account.at(date(2026, 5, 31)).code == "ZJ-RES-TOU-2026"
    assert account.at(date(2026, 6, 1)).code == "ZJ-RES-2026"


def test_an_account_with_no_default_tariff_is_refused_before_its_first_assignment() -> None:
    s = schedules()
    account = AccountSchedule(None, [(date(2026, 3, 1), s["zj-residential"])])
    with pytest.raises(TariffError, match="no tariff for this account on 2026-02-28"):
        account.at(date(2026, 2, 28))


def test_two_assignments_on_one_day_are_refused() -> None:
    s = schedules()
    with pytest.raises(TariffError, match="same day"):
        AccountSchedule(None, [(JAN1, s["zj-residential"]), (JAN1, s["zj-residential-tou"])])


def test_the_tier_now_says_what_is_left_in_the_first_tier_of_the_year() -> None:
    now = tier_now(schedules()["residential"], JAN1, date(2026, 8, 1), {JAN1: 2_000_000})
    assert (now.tier, now.tiers, now.used_wh) == (1, 3, 2_000_000)
    assert (now.next_threshold_wh, now.left_wh) == (2_880_000, 880_000)
    assert (now.cycle_start, now.cycle_end) == (JAN1, date(2026, 12, 31))


def test_the_tier_now_follows_the_accounts_own_cycle_start() -> None:
    anchor = date(2025, 7, 15)  # opened mid-July: its 年阶梯 runs 15 July to 14 July
    used = {date(2026, 7, 15): 5_000_000, date(2025, 7, 15): 9_999_000}
    now = tier_now(schedules()["residential"], anchor, date(2026, 8, 1), used)
    assert (now.cycle_start, now.cycle_end) == (date(2026, 7, 15), date(2027, 7, 14))
    assert (now.tier, now.next_threshold_wh, now.left_wh) == (3, None, None)


def test_a_monthly_cycle_ends_the_day_before_the_next_month_starts() -> None:
    monthly = load_file(ZJ)[0]
    s = Schedule([msgspec.structs.replace(monthly, cycle="monthly", tiers_wh=(230_000, 400_000))])
    now = tier_now(s, date(2026, 1, 31), date(2026, 2, 10), {date(2026, 1, 31): 100_000})
    assert (now.cycle_start, now.cycle_end) == (date(2026, 1, 31), date(2026, 2, 27))
    assert now.left_wh == 130_000


def test_the_tariffs_in_force_list_every_schedule_with_its_end() -> None:
    later = load_file(DEFAULT_FILE)[0]
    s = schedules()
    s["residential"] = Schedule(
        [
            s["residential"].at(JAN1),
            msgspec.structs.replace(later, code="RES-2027", effective_from=date(2027, 1, 1)),
        ]
    )
    rows = {r.schedule: r for r in in_force(s, date(2026, 6, 1))}
    assert set(rows) >= {"residential", "zj-residential", "zj-residential-tou", "commercial"}
    assert rows["residential"].tariff.code == "RES-2026"
    assert rows["residential"].until == date(2026, 12, 31)
    assert rows["zj-residential"].until is None
    assert in_force(s, date(2025, 12, 31)) == []
