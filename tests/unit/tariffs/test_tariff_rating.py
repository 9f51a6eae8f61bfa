"""Hand-checked tariff cases: every expected amount below was worked out on paper."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import example, given
from hypothesis import strategies as st

from backend.tariffs import rating
from backend.tariffs.loader import DEFAULT_FILE, load_file, parse_tariffs
from backend.tariffs.model import Period
from backend.tariffs.rating import (
    Schedule,
    cycle_start,
    rate_interval,
    round_fen,
    split_energy,
)

TZ = ZoneInfo("Asia/Shanghai")
D = Decimal


def ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=TZ).timestamp() * 1000)


def schedule(code: str) -> Schedule:
    tariffs = load_file(DEFAULT_FILE)
    t = next(t for t in tariffs if t.code == code)
    return Schedule([t])


RES_TOU = parse_tariffs(
    """
[[tariff]]
code = "RES-TOU"
name = "居民 阶梯 + 峰谷"
category = "residential"
effective_from = 2026-01-01
tiers_kwh = [2880, 4800]
[tariff.periods]
peak = ["08:00-22:00"]
valley = ["22:00-08:00"]
[tariff.prices]
peak = [0.5383, 0.5883, 0.8383]
valley = [0.2883, 0.3383, 0.5883]
"""
)


def test_the_kwh_crossing_a_tier_threshold_mid_interval_is_priced_at_the_next_tier() -> None:
    counters = {date(2026, 1, 1): 2_879_500}
    lines = rate_interval(
        schedule("RES-2026"),
        TZ,
        date(2026, 1, 1),
        ms(2026, 5, 6, 10),
        ms(2026, 5, 6, 11),
        2000,
        counters,
    )
    assert [(ln.tier, ln.wh, ln.price, ln.amount) for ln in lines] == [
        (1, 500, D("0.4883"), D("0.24415")),
        (2, 1500, D("0.5383"), D("0.80745")),
    ]
    assert counters == {date(2026, 1, 1): 2_881_500}


def test_an_interval_across_a_tou_boundary_is_split_at_the_boundary() -> None:
    lines = rate_interval(
        schedule("GI-2026"),
        TZ,
        date(2026, 1, 1),
        ms(2026, 5, 6, 7, 30),
        ms(2026, 5, 6, 8, 30),
        1000,
        {},
    )
    assert {(ln.period, ln.wh, ln.amount) for ln in lines} == {
        (Period.VALLEY, 500, D("0.1618")),
        (Period.PEAK, 500, D("0.4855")),
    }


def test_tier_and_tou_combine_with_a_price_per_tier_and_period() -> None:
    counters = {date(2026, 1, 1): 2_879_000}
    lines = rate_interval(
        Schedule(RES_TOU),
        TZ,
        date(2026, 1, 1),
        ms(2026, 8, 1, 21, 30),
        ms(2026, 8, 1, 22, 30),
        2000,
        counters,
    )
    # 21:30-22:00 peak, 1000 Wh, all still in tier 1; 22:00-22:30 valley, 1000 Wh in tier 2
    assert [(ln.tier, ln.period, ln.wh, ln.amount) for ln in lines] == [
        (1, Period.PEAK, 1000, D("0.5383")),
        (2, Period.VALLEY, 1000, D("0.3383")),
    ]


def test_a_tariff_change_mid_year_splits_the_charge_and_keeps_the_tier_counter() -> None:
    two = parse_tariffs(
        """
[[tariff]]
code = "RES-H1"
name = "上半年"
category = "residential"
effective_from = 2026-01-01
tiers_kwh = [2880, 4800]
[tariff.prices]
flat = [0.4883, 0.5383, 0.7883]

[[tariff]]
code = "RES-H2"
name = "下半年"
category = "residential"
effective_from = 2026-07-01
tiers_kwh = [2880, 4800]
[tariff.prices]
flat = [0.5000, 0.5500, 0.8000]
"""
    )
    counters = {date(2026, 1, 1): 2_879_000}
    lines = rate_interval(
        Schedule(two), TZ, date(2026, 1, 1), ms(2026, 6, 30, 23), ms(2026, 7, 1, 1), 4000, counters
    )
    # 2000 Wh before midnight under H1 (1000 in tier 1, 1000 in tier 2), 2000 after under H2,
    # still in tier 2 because the annual counter runs on across the change
    assert [(ln.tariff, ln.tier, ln.wh, ln.amount) for ln in lines] == [
        ("RES-H1", 1, 1000, D("0.4883")),
        ("RES-H1", 2, 1000, D("0.5383")),
        ("RES-H2", 2, 2000, D("1.1000")),
    ]
    assert sum(ln.amount for ln in lines) == D("2.1266")


def test_the_tier_counter_restarts_on_the_accounts_own_cycle_start() -> None:
    anchor = date(2025, 3, 15)
    counters = {date(2026, 3, 15): 5_000_000}
    lines = rate_interval(
        schedule("RES-2026"), TZ, anchor, ms(2027, 3, 14, 23), ms(2027, 3, 15, 1), 2000, counters
    )
    assert [(ln.cycle, ln.tier, ln.wh) for ln in lines] == [
        (date(2026, 3, 15), 3, 1000),
        (date(2027, 3, 15), 1, 1000),
    ]


def test_a_monthly_cycle_anchored_on_the_31st_starts_on_the_last_day_of_short_months() -> None:
    from backend.tariffs.model import Cycle

    assert cycle_start(date(2026, 2, 27), date(2026, 1, 31), Cycle.MONTHLY) == date(2026, 1, 31)
    assert cycle_start(date(2026, 2, 28), date(2026, 1, 31), Cycle.MONTHLY) == date(2026, 2, 28)
    assert cycle_start(date(2026, 1, 5), date(2025, 3, 15), Cycle.ANNUAL) == date(2025, 3, 15)


def test_a_flat_only_category_pays_the_flat_price_in_the_peak_hours() -> None:
    lines = rate_interval(
        schedule("COM-2026"), TZ, date(2026, 1, 1), ms(2026, 5, 6, 9), ms(2026, 5, 6, 10), 1000, {}
    )
    assert [(ln.period, ln.price, ln.amount) for ln in lines] == [
        (Period.FLAT, D("0.6473"), D("0.6473"))
    ]


def test_rounding_to_fen_is_half_up() -> None:
    assert [round_fen(D(x)) for x in ("0.004", "0.005", "1.0516", "-0.005")] == [0, 1, 105, -1]


@given(
    start=st.integers(0, 10**12),
    length=st.integers(1, 10**8),
    wh=st.integers(0, 10**9),
    cuts=st.lists(st.integers(0, 10**8), max_size=20),
)
def test_splitting_an_interval_keeps_every_wh(
    start: int, length: int, wh: int, cuts: list[int]
) -> None:
    pieces = split_energy(start, start + length, wh, [start + c for c in cuts])
    assert sum(p[2] for p in pieces) == wh
    assert pieces[0][0] == start
    assert pieces[-1][1] == start + length
    assert all(p[2] >= 0 for p in pieces)


# Two tariffs of one category in a row, the second with other TOU boundaries: an interval may
# cross the change at local midnight.
CHANGING = Schedule(
    [
        *RES_TOU,
        *parse_tariffs(
            """
[[tariff]]
code = "RES-TOU-2"
name = "居民 阶梯 + 尖峰谷"
category = "residential"
effective_from = 2026-03-29
tiers_kwh = [2880, 4800]
[tariff.periods]
sharp = ["19:00-21:00"]
peak = ["08:00-19:00", "21:00-22:30"]
valley = ["22:30-24:00", "00:00-08:00"]
[tariff.prices]
sharp = [0.7383, 0.7883, 1.0383]
peak = [0.5383, 0.5883, 0.8383]
valley = [0.2883, 0.3383, 0.5883]

[[tariff]]
code = "RES-TOU-3"
name = "居民 阶梯 + 峰谷 (02:30)"
category = "residential"
effective_from = 2026-10-01
tiers_kwh = [2880, 4800]
[tariff.periods]
peak = ["02:30-24:00"]
valley = ["00:00-02:30"]
[tariff.prices]
peak = [0.5383, 0.5883, 0.8383]
valley = [0.2883, 0.3383, 0.5883]
"""
        ),
    ]
)


# 25 October 2026, 02:10 CET in Berlin: the second 02:10 of the night, after the 02:30 boundary
@example(zone="Europe/Berlin", week=ms(2026, 10, 23), offset=205_800_000, length=900_000, wh=9)
@given(
    zone=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/Sao_Paulo"]),
    week=st.sampled_from([ms(2026, 3, 27), ms(2026, 10, 23)]),
    offset=st.integers(0, 6 * 86_400_000),
    length=st.integers(1, 30 * 3_600_000),
    wh=st.integers(1, 10**7),
)
def test_an_interval_inside_one_day_is_cut_as_the_general_way_cuts_it(
    zone: str, week: int, offset: int, length: int, wh: int
) -> None:
    """The quick way (one ordinary local day, its boundaries worked out once) and the long way
    (every midnight and boundary converted per interval) give the same pieces, across tariff
    changes, daylight-saving days (Berlin 29 March and 25 October, when 02:00-03:00 comes
    twice and a 02:30 boundary with it) and intervals of up to 30 hours."""
    tz, start = ZoneInfo(zone), week + offset
    quick = rating._pieces(CHANGING, tz, start, start + length, wh)
    assert quick == rating._pieces_anywhere(CHANGING, tz, start, start + length, wh)


def test_most_readings_take_the_quick_way() -> None:
    """A quarter hour inside an ordinary day is cut from the day's cached boundaries."""
    start = ms(2026, 4, 1, 22, 20)
    assert rating._pieces_in_day(CHANGING, TZ, start, start + 1_800_000, 100) == (
        date(2026, 4, 1), CHANGING.tariffs[1], [(33, Period.PEAK), (67, Period.VALLEY)]
    )  # fmt: skip
    assert rating._pieces_in_day(CHANGING, TZ, start, ms(2026, 4, 2, 0, 15), 100) is None


@given(
    zone=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/Sao_Paulo"]),
    week=st.sampled_from([ms(2026, 3, 27), ms(2026, 10, 23)]),
    offsets=st.lists(st.integers(0, 6 * 86_400_000), min_size=2, max_size=30),
    length=st.integers(1, 3 * 3_600_000),
)
def test_intervals_in_any_order_are_cut_alike_whichever_day_came_before(
    zone: str, week: int, offsets: list[int], length: int
) -> None:
    """The quick way remembers the last ordinary day it found; an interval of another day, of a
    daylight-saving day or across midnight after it is still cut as the long way cuts it."""
    tz = ZoneInfo(zone)
    for offset in offsets:
        start = week + offset
        quick = rating._pieces(CHANGING, tz, start, start + length, 1_000)
        assert quick == rating._pieces_anywhere(CHANGING, tz, start, start + length, 1_000)


# a quarter hour of 20 kWh from 10 kWh below the first threshold: one piece, two tiers
@example(start=ms(2026, 4, 1, 10), lengths=[900_000], whs=[20_000] * 40, threshold=2_880_000,
         below=10_000, extra_wh_month=0)  # fmt: skip
# ... and one Wh past it, or ending on it exactly
@example(start=ms(2026, 4, 1, 10), lengths=[900_000], whs=[20_000] * 40, threshold=2_880_000,
         below=19_999, extra_wh_month=0)  # fmt: skip
@example(start=ms(2026, 4, 1, 10), lengths=[900_000] * 2, whs=[20_000] * 40,
         threshold=2_880_000, below=20_000, extra_wh_month=0)  # fmt: skip
@given(
    start=st.integers(ms(2026, 3, 20), ms(2026, 4, 10)),
    lengths=st.lists(st.integers(1, 2 * 3_600_000), min_size=1, max_size=40),
    whs=st.lists(st.integers(0, 400_000), min_size=40, max_size=40),
    # the thresholds, with and without the allowance (12 × 100 kWh a year)
    threshold=st.sampled_from([0, 2_880_000, 4_080_000, 4_800_000, 6_000_000]),
    below=st.integers(0, 1_000_000),
    extra_wh_month=st.sampled_from([0, 100_000]),
)
def test_an_interval_priced_in_one_line_is_priced_as_the_long_walk_prices_it(
    start: int, lengths: list[int], whs: list[int], threshold: int, below: int,
    extra_wh_month: int,
) -> None:  # fmt: skip
    """The quick way (one piece in one tier: a cached line) gives the lines the walk gives,
    to the stored text (the exact amounts' digits), and leaves the tier counters alike, through
    tariff changes, TOU boundaries and tier thresholds crossed mid-interval."""
    terms = rating.TierTerms(extra_wh_month) if extra_wh_month else None
    used = max(0, threshold - below)
    anchor, quick_counters = date(2026, 1, 1), {date(2026, 1, 1): used}
    walk_counters = dict(quick_counters)
    for length, wh in zip(lengths, whs, strict=False):
        args = (CHANGING, TZ, anchor, start, start + length, wh)
        quick = rate_interval(*args, quick_counters, terms)
        walked = rating._walk(*args, walk_counters, terms) if wh else []
        assert msgspec.json.encode(quick) == msgspec.json.encode(walked)
        assert quick_counters == walk_counters
        start += length


def test_a_quarter_hour_inside_one_tier_takes_the_cached_line() -> None:
    """Two meters' same energy at the same price share one line (not a walk each)."""
    counters: dict[date, int] = {}
    start = ms(2026, 4, 1, 10)
    first = rate_interval(CHANGING, TZ, date(2026, 1, 1), start, start + 900_000, 321, counters)
    again = rate_interval(CHANGING, TZ, date(2026, 1, 1), start, start + 900_000, 321, {})
    assert first[0] is again[0]
    assert first[0].wh == 321
