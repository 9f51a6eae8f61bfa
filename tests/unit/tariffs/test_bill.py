"""A monthly bill: energy lines by tier and period, the basic charge of a two-part tariff, the
power-factor adjustment; the lines always sum to the total, the exact amount rounded once;
late fees at the published daily rates. Amounts worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from backend.tariffs.bill import BillText, Meterage, compose, late_fee
from backend.tariffs.loader import parse_tariffs
from backend.tariffs.model import Period
from backend.tariffs.rating import Line, kwh_amount, round_fen

D = Decimal
JAN1 = date(2026, 1, 1)

LARGE = parse_tariffs(
    """
[[tariff]]
code = "LI-2P"
name = "大工业 两部制"
category = "large_industry"
effective_from = 2026-01-01
power_factor_target = 0.90
[tariff.basic_charge]
per = "kva"
price = 23.3
[tariff.periods]
peak = ["08:00-22:00"]
valley = ["22:00-08:00"]
[tariff.prices]
peak = 0.8820
valley = 0.2940
"""
)[0]


def line(tier: int, period: Period, wh: int, price: str) -> Line:
    return Line(JAN1, "T", tier, period, wh, D(price), kwh_amount(wh, D(price)))


def test_a_residential_month_has_one_line_per_tier_that_sums_to_the_total() -> None:
    lines = [
        line(1, Period.FLAT, 2_000_000, "0.4883"),
        line(1, Period.FLAT, 880_000, "0.4883"),
        line(2, Period.FLAT, 120_000, "0.5383"),
    ]
    bill = compose("2026-01", None, lines, Meterage())
    assert [(b.code, b.params["tier"], b.params["energy_wh"]) for b in bill.lines] == [
        (BillText.ENERGY, 1, 2_880_000), (BillText.ENERGY, 2, 120_000),
    ]  # fmt: skip
    # 2,880 x 0.4883 = 1,406.304; 120 x 0.5383 = 64.596; total 1,470.90
    assert [b.amount_fen for b in bill.lines] == [140_630, 6_460]
    assert (bill.total_fen, D(bill.exact_cny)) == (147_090, D("1470.9"))
    assert bill.due_on == date(2026, 2, 15)


def test_a_large_industry_month_with_capacity_charge_and_a_power_factor_surcharge() -> None:
    lines = [
        line(1, Period.PEAK, 60_000_000, "0.8820"),
        line(1, Period.VALLEY, 40_000_000, "0.2940"),
    ]
    # 100,000 kWh and 75,000 kvarh: cos = 0.80, against 0.90: +5 %
    bill = compose("2026-03", LARGE, lines, Meterage(capacity_kva=630, reactive_varh=75_000_000))
    codes = [b.code for b in bill.lines]
    assert codes == [BillText.ENERGY, BillText.ENERGY, BillText.CAPACITY, BillText.POWER_FACTOR]
    # peak 60,000 x 0.882 = 52,920; valley 40,000 x 0.294 = 11,760; capacity 630 x 23.3
    # = 14,679; base 79,359; +5 % = 3,967.95; total 83,326.95
    assert [b.amount_fen for b in bill.lines] == [5_292_000, 1_176_000, 1_467_900, 396_795]
    params = bill.lines[3].params
    assert (params["factor"], params["target"], params["percent"]) == ("0.80", "0.90", "5.0")
    assert D(str(params["base"])) == D("79359")
    assert (bill.total_fen, bill.power_factor) == (8_332_695, "0.80")


def test_a_good_power_factor_reduces_the_bill() -> None:
    lines = [line(1, Period.PEAK, 10_000_000, "0.8820")]
    bill = compose("2026-03", LARGE, lines, Meterage(capacity_kva=0, reactive_varh=0))
    # 10,000 x 0.882 = 8,820; cos 1.00: -0.75 % = -66.15
    assert [b.amount_fen for b in bill.lines] == [882_000, 0, -6_615]
    assert bill.total_fen == 875_385


@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.sampled_from(list(Period)), st.integers(0, 10**7),
                  st.sampled_from(["0.4883", "0.5383", "0.7883", "0.2940", "1.1652"])),
        max_size=30,
    ),
    st.integers(0, 10**8),
)  # fmt: skip
def test_the_lines_always_sum_to_the_total_which_is_the_exact_amount_rounded_once(
    raw: list[tuple[int, Period, int, str]], reactive: int
) -> None:
    lines = [line(t, p, wh, price) for t, p, wh, price in raw]
    bill = compose("2026-03", LARGE, lines, Meterage(capacity_kva=315, reactive_varh=reactive))
    assert sum(b.amount_fen for b in bill.lines) == bill.total_fen
    assert bill.total_fen == round_fen(D(bill.exact_cny))
    assert bill.energy_wh == sum(wh for _, _, wh, _ in raw)


def test_late_fees_are_one_permille_a_day_for_households_and_two_or_three_for_others() -> None:
    due = date(2026, 2, 15)
    assert late_fee(100_000, due, date(2026, 2, 15), residential=True) == 0
    assert late_fee(100_000, due, date(2026, 2, 25), residential=True) == 1_000  # 10 days x 1‰
    assert late_fee(100_000, due, date(2026, 2, 25), residential=False) == 2_000
    # due 20 December, paid 10 January: 11 days at 2‰ in 2026, 10 days at 3‰ in 2027
    assert late_fee(100_000, date(2026, 12, 20), date(2027, 1, 10), residential=False) == 5_200


def test_a_demand_charge_bills_the_months_maximum_demand_in_kw() -> None:
    demand = parse_tariffs(
        """
[[tariff]]
code = "LI-KW"
name = "大工业 需量"
category = "large_industry"
effective_from = 2026-01-01
[tariff.basic_charge]
per = "kw"
price = 35.0
[tariff.prices]
flat = 0.6
"""
    )[0]
    bill = compose("2026-03", demand, [line(1, Period.FLAT, 1_000_000, "0.6")],
                   Meterage(max_demand_w=412_500))  # fmt: skip
    # 1,000 kWh x 0.6 = 600; 412.5 kW x 35 = 14,437.50; no power-factor line
    assert [(b.code, b.amount_fen) for b in bill.lines] == [
        (BillText.ENERGY, 60_000), (BillText.DEMAND, 1_443_750),
    ]  # fmt: skip
    assert bill.lines[1].params == {"demand_w": 412_500, "price": "35.0"}
    assert bill.power_factor is None


def test_a_capacity_changed_within_the_month_is_charged_by_its_days() -> None:
    # 630 kVA for 10 days, suspended 5 days, 800 kVA for 16 days of March (31 days)
    stretches = ((630, 10), (0, 5), (800, 16))
    bill = compose(
        "2026-03", LARGE, [line(1, Period.PEAK, 10_000_000, "0.8820")],
        Meterage(capacity_kva=800, capacity_days=stretches),
    )  # fmt: skip
    assert [(b.code, b.params.get("kva"), b.params.get("days")) for b in bill.lines] == [
        (BillText.ENERGY, None, None),
        (BillText.CAPACITY_DAYS, 630, 10),
        (BillText.CAPACITY_DAYS, 800, 16),
        (BillText.POWER_FACTOR, None, None),
    ]
    # energy 10,000 x 0.882 = 8,820; capacity (630 x 10 + 800 x 16) x 23.3 / 31 = 19,100 x
    # 23.3 / 31 = 14,355.806…; base 23,175.806…; no reactive energy: cos 1.00, -0.75 %
    # = -173.818…; total 23,001.987… -> 23,001.99
    assert bill.total_fen == 2_300_199
    assert sum(b.amount_fen for b in bill.lines) == bill.total_fen
    # one capacity all month, even a changed one: the usual line at that capacity
    whole = compose("2026-03", LARGE, [], Meterage(capacity_kva=800, capacity_days=((630, 31),)))
    assert [(b.code, b.params["kva"], b.amount_fen) for b in whole.lines[:1]] == [
        (BillText.CAPACITY, 630, 1_467_900)
    ]
