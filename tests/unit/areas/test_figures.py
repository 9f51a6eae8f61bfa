"""Line loss, voltage quality, unbalance and reliability against figures worked by hand."""

from __future__ import annotations

from backend.areas.figures import (
    SINGLE_PHASE,
    THREE_PHASE,
    Interruption,
    LossState,
    OutageCause,
    VoltageLimits,
    VoltageQuality,
    line_loss,
    reliability,
    unbalance,
)

HOUR = 3_600_000


def test_line_loss_is_the_total_meter_times_ct_and_pt_minus_the_customers_meters() -> None:
    # total meter register 2,000 Wh behind a 50/5 CT (10) and no PT: 20,000 Wh in;
    # customers 9,000 + 8,000 + 1,800 = 18,800 Wh; loss 1,200 Wh = 6 %
    f = line_loss(2_000, 10, 1, {1: 9_000, 2: 8_000, 3: 1_800}, expected_meters=3)
    assert (f.supplied_wh, f.billed_wh, f.loss_wh, f.rate) == (20_000, 18_800, 1_200, 0.06)
    assert f.state == LossState.NORMAL


def test_a_loss_from_fewer_meters_than_expected_is_marked_incomplete() -> None:
    f = line_loss(2_000, 10, 1, {1: 9_000, 2: 8_000}, expected_meters=3)
    assert (f.loss_wh, f.reporting_meters, f.expected_meters) == (3_000, 2, 3)
    assert f.state == LossState.INCOMPLETE


def test_negative_and_high_loss_are_abnormal_and_no_total_meter_gives_no_figure() -> None:
    assert line_loss(1_000, 1, 1, {1: 1_100}, 1).state == LossState.NEGATIVE
    high = line_loss(1_000, 1, 1, {1: 850}, 1)
    assert (high.rate, high.state) == (0.15, LossState.HIGH)
    none = line_loss(None, 1, 1, {1: 850}, 1)
    assert (none.rate, none.loss_wh, none.state) == (None, None, LossState.NO_TOTAL)


def test_voltage_limits_are_seven_percent_three_phase_and_plus_7_minus_10_single_phase() -> None:
    assert THREE_PHASE.bounds_mv() == (204_600, 235_400)
    assert SINGLE_PHASE.bounds_mv() == (198_000, 235_400)
    assert VoltageLimits(50, 50).bounds_mv() == (209_000, 231_000)


def test_voltage_qualification_rate_counts_samples_within_the_bounds_inclusive() -> None:
    values = [220_000, 235_400, 235_401, 198_000, 197_999, 230_000, 204_000, 210_000]
    single = VoltageQuality.of(values, SINGLE_PHASE)
    # within: 220.0, 235.4, 198.0, 230.0, 204.0, 210.0 = 6 of 8; above 1; below 1
    assert (single.samples, single.within, single.above, single.below) == (8, 6, 1, 1)
    assert single.rate == 0.75
    three = VoltageQuality.of(values, THREE_PHASE)  # 198.0, 204.0 and 197.999 are low
    assert (three.within, three.above, three.below, three.rate) == (4, 1, 3, 0.5)
    assert (single + three).rate == 0.625  # (6 + 4) / 16


def test_unbalance_is_max_minus_min_over_max() -> None:
    assert unbalance([100_000, 80_000, 60_000]) == 0.4
    assert unbalance([0, 0, 0]) is None


def test_saifi_saidi_and_rs_against_a_hand_calculation() -> None:
    # 4 customers over one day (24 h). Customers 1 and 2 out 2 h (fault); customer 3 out 30 min
    # (限电); customer 1 again 1 h, of which 30 min fall after the period's end.
    start, end = 0, 24 * HOUR
    cuts = [
        Interruption(1, 2 * HOUR, 4 * HOUR, OutageCause.UNPLANNED),
        Interruption(2, 2 * HOUR, 4 * HOUR, OutageCause.UNPLANNED),
        Interruption(3, 10 * HOUR, 10 * HOUR + HOUR // 2, OutageCause.LIMITED),
        Interruption(1, 23 * HOUR + HOUR // 2, 24 * HOUR + HOUR // 2, OutageCause.PLANNED),
    ]
    r = reliability(4, cuts, start, end)
    # customer-hours 2 + 2 + 0.5 + 0.5 = 5; SAIFI 4/4 = 1; SAIDI 5/4 = 1.25 h
    assert (r.interruptions, r.customer_hours, r.saifi, r.saidi_hours) == (4, 5.0, 1.0, 1.25)
    assert r.rs1 == round(1 - 1.25 / 24, 6)  # 0.947917
    assert r.rs3 == round(1 - (5 - 0.5) / 4 / 24, 6)  # 0.953125: 限电 left out
    assert reliability(0, [], start, end).saifi is None


def test_a_months_loss_adds_up_its_days_and_is_incomplete_with_any_uncertain_day() -> None:
    from backend.areas.figures import month_loss

    ok = month_loss([(20_000, 18_800, LossState.NORMAL), (10_000, 9_000, LossState.HIGH)])
    # 30,000 in, 27,800 out: 2,200 Wh, 7.33 %
    assert (ok.supplied_wh, ok.billed_wh, ok.loss_wh, ok.rate, ok.state) == (
        30_000, 27_800, 2_200, 0.0733, LossState.NORMAL,
    )  # fmt: skip
    gap = month_loss([(20_000, 18_800, LossState.NORMAL), (None, 9_000, LossState.NO_TOTAL)])
    assert (gap.supplied_wh, gap.billed_wh, gap.rate, gap.complete_days, gap.state) == (
        20_000, 18_800, 0.06, 1, LossState.INCOMPLETE,
    )  # fmt: skip
    assert month_loss([(None, 5, LossState.NO_TOTAL)]).state == LossState.NO_TOTAL
