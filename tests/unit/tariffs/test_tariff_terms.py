"""Seasons inside one tariff (Guangzhou), the household-size allowance (一户多人口) and the
proration of an account's first cycle. The thresholds are the published ones (Guangzhou:
May-October 260/600 kWh a month, otherwise 200/400; Beijing 2,880/4,800 kWh a year); every
amount was worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backend.tariffs.loader import DEFAULT_FILE, load_file, parse_tariffs
from backend.tariffs.model import TariffError
from backend.tariffs.rating import Schedule, TierTerms, rate_interval, thresholds
from backend.tariffs.service import tier_now

TZ = ZoneInfo("Asia/Shanghai")
D = Decimal
GZ = Path(DEFAULT_FILE).parent / "examples" / "guangzhou_residential.toml"
JAN1 = date(2026, 1, 1)


def ms(y: int, mo: int, d: int, h: int = 0) -> int:
    return int(datetime(y, mo, d, h, tzinfo=TZ).timestamp() * 1000)


def gz() -> Schedule:
    return Schedule(load_file(GZ))


def beijing() -> Schedule:
    return Schedule([t for t in load_file(DEFAULT_FILE) if t.code == "RES-2026"])


def _month_bill(
    schedule: Schedule, y: int, mo: int, kwh: int, terms: TierTerms | None = None
) -> Decimal:
    """``kwh`` used over the month's first day (one interval), from zero."""
    lines = rate_interval(schedule, TZ, JAN1, ms(y, mo, 1), ms(y, mo, 2), kwh * 1000, {}, terms)
    return sum((ln.amount for ln in lines), D(0))


def test_guangzhou_summer_months_have_the_260_and_600_kwh_tiers() -> None:
    t = gz().at(date(2026, 7, 1))
    assert [t.thresholds(date(2026, m, 1)) for m in (4, 5, 10, 11)] == [
        (200_000, 400_000), (260_000, 600_000), (260_000, 600_000), (200_000, 400_000),
    ]  # fmt: skip


def test_300_kwh_in_july_and_in_january_are_priced_by_their_seasons_tiers() -> None:
    # July: 260 x 0.5802 + 40 x 0.6302 = 150.852 + 25.208 = 176.060
    assert _month_bill(gz(), 2026, 7, 300) == D("176.060")
    # January: 200 x 0.5802 + 100 x 0.6302 = 116.04 + 63.02 = 179.060
    assert _month_bill(gz(), 2026, 1, 300) == D("179.060")
    # 700 kWh in August: 260 x 0.5802 + 340 x 0.6302 + 100 x 0.8802
    # = 150.852 + 214.268 + 88.02 = 453.140
    assert _month_bill(gz(), 2026, 8, 700) == D("453.140")


def test_beijing_3000_kwh_in_a_year_crosses_into_the_second_tier() -> None:
    # 2,880 x 0.4883 + 120 x 0.5383 = 1,406.304 + 64.596 = 1,470.900
    lines = rate_interval(beijing(), TZ, JAN1, ms(2026, 1, 1), ms(2026, 12, 31), 3_000_000, {})
    assert sum((ln.amount for ln in lines), D(0)) == D("1470.900")


def test_a_household_allowance_raises_every_threshold_by_n_kwh_a_month_of_the_cycle() -> None:
    extra = TierTerms(extra_wh_month=100_000)  # 一户多人口: +100 kWh a month
    t = beijing().at(JAN1)
    assert thresholds(t, JAN1, JAN1, extra) == (4_080_000, 6_000_000)  # annual: +1,200 kWh
    g = gz().at(date(2026, 7, 1))
    assert thresholds(g, date(2026, 7, 1), JAN1, extra) == (360_000, 700_000)
    # 300 kWh in January with the allowance: all first tier, 300 x 0.5802 = 174.06
    assert _month_bill(gz(), 2026, 1, 300, extra) == D("174.060")


def test_an_account_opened_mid_year_gets_its_first_years_tiers_prorated_by_days() -> None:
    t = beijing().at(JAN1)
    opened = TierTerms(prorate_from=date(2026, 7, 1))  # 184 of 365 days left
    # 2,880,000 x 184 // 365 = 1,451,835 Wh; 4,800,000 x 184 // 365 = 2,419,726 Wh
    assert thresholds(t, JAN1, JAN1, opened) == (1_451_835, 2_419_726)
    assert thresholds(t, date(2027, 1, 1), JAN1, opened) == (2_880_000, 4_800_000)
    now = tier_now(beijing(), JAN1, date(2026, 9, 1), {JAN1: 1_500_000}, opened)
    assert (now.tier, now.next_threshold_wh, now.left_wh) == (2, 2_419_726, 919_726)


def test_seasons_are_refused_on_an_annual_cycle_and_when_months_overlap() -> None:
    head = """
[[tariff]]
code = "X"
name = "x"
category = "residential"
effective_from = 2026-01-01
cycle = "{cycle}"
tiers_kwh = [200, 400]
[[tariff.seasons]]
months = [5, 6]
tiers_kwh = [260, 600]
[[tariff.seasons]]
months = [{months}]
tiers_kwh = [{tiers}]
[tariff.prices]
flat = [0.5, 0.6, 0.9]
"""
    with pytest.raises(TariffError, match="seasons need cycle = 'monthly'"):
        parse_tariffs(head.format(cycle="annual", months="7", tiers="210, 410"))
    with pytest.raises(TariffError, match="each in one season"):
        parse_tariffs(head.format(cycle="monthly", months="6, 7", tiers="210, 410"))
    with pytest.raises(TariffError, match="1 tier thresholds"):
        parse_tariffs(head.format(cycle="monthly", months="7", tiers="210"))
    with pytest.raises(TariffError, match="month numbers"):
        parse_tariffs(head.format(cycle="monthly", months='"July"', tiers="210, 410"))
