"""Each plausibility check, triggered and not triggered (R10: against 估抄 and 漏抄)."""

from __future__ import annotations

import pytest

from backend.field.readings import plausibility as p
from backend.field.readings.plausibility import DAY_MS, HOUR_MS, Fix, FlagKind, SameFix, Sample
from backend.settings import load_settings

TH = p.Thresholds()
T0 = 1_790_000_000_000
HANGZHOU = (30.2700, 120.1500)


def test_thresholds_come_from_the_settings() -> None:
    s = load_settings(env={"METERLINE_FIELD_MAX_SPEED_KMH": "60"})
    assert p.Thresholds.from_settings(s).max_speed_kmh == 60
    assert p.Thresholds.from_settings(load_settings(env={})) == TH


class TestValueBelowPrevious:
    def test_a_register_lower_than_the_previous_reading_is_flagged(self) -> None:
        found = p.check_value_below_previous(1_000_000, Sample(T0, 1_050_000), TH)
        assert found is not None
        assert found.kind == FlagKind.VALUE_BELOW_PREVIOUS
        assert "50.00 kWh below" in found.detail

    def test_a_register_at_or_above_the_previous_reading_is_not(self) -> None:
        assert p.check_value_below_previous(1_050_000, Sample(T0, 1_050_000), TH) is None
        assert p.check_value_below_previous(1_060_000, Sample(T0, 1_050_000), TH) is None

    def test_a_register_rolling_over_from_999999_kwh_is_not(self) -> None:
        assert p.check_value_below_previous(20_000, Sample(T0, 999_990_000), TH) is None

    def test_a_first_reading_of_a_replacement_meter_has_nothing_to_compare(self) -> None:
        assert p.check_value_below_previous(0, None, TH) is None


class TestConsumption:
    usual = 10_000.0  # 10 kWh a day
    prev = Sample(T0, 5_000_000)

    def test_usual_use_comes_from_the_history(self) -> None:
        assert p.usual_daily_wh(Sample(T0, 0), Sample(T0 + 30 * DAY_MS, 300_000), TH) == 10_000
        assert p.usual_daily_wh(Sample(T0, 0), Sample(T0 + 2 * DAY_MS, 10), TH) is None  # short

    def test_far_more_than_usual_is_flagged(self) -> None:
        value = self.prev.value + 30 * 40_000  # 40 kWh a day for 30 days
        found = p.check_consumption(value, T0 + 30 * DAY_MS, self.prev, self.usual, TH)
        assert found is not None
        assert found.kind == FlagKind.CONSUMPTION_OUT_OF_RANGE

    def test_far_less_than_usual_is_flagged(self) -> None:
        value = self.prev.value + 30 * 500  # 0.5 kWh a day: an estimate (估抄)?
        found = p.check_consumption(value, T0 + 30 * DAY_MS, self.prev, self.usual, TH)
        assert found is not None
        assert "expected a reading between" in found.detail

    def test_usual_use_is_not_flagged(self) -> None:
        value = self.prev.value + 30 * 11_000
        assert p.check_consumption(value, T0 + 30 * DAY_MS, self.prev, self.usual, TH) is None

    def test_a_reading_an_hour_after_the_previous_is_not_flagged(self) -> None:
        value = self.prev.value + 2_000
        assert p.check_consumption(value, T0 + HOUR_MS, self.prev, self.usual, TH) is None

    def test_a_vacant_flat_reading_zero_use_is_not_flagged(self) -> None:
        assert p.check_consumption(self.prev.value, T0 + 30 * DAY_MS, self.prev, 100.0, TH) is None

    def test_without_history_nothing_is_flagged(self) -> None:
        assert p.check_consumption(10**9, T0, None, None, TH) is None

    def test_the_range_given_to_the_app_matches_the_check(self) -> None:
        low, high = p.expected_range(self.prev, self.usual, T0 + 10 * DAY_MS, TH) or (0, 0)
        assert (low, high) == (5_000_000 + 20_000, 5_000_000 + 300_000)
        at = T0 + 10 * DAY_MS
        assert p.check_consumption(low, at, self.prev, self.usual, TH) is None
        assert p.check_consumption(high, at, self.prev, self.usual, TH) is None
        assert p.check_consumption(high + 10, at, self.prev, self.usual, TH) is not None


class TestPosition:
    def test_a_fix_far_from_the_meter_is_flagged(self) -> None:
        fix = Fix(T0, HANGZHOU[0] + 0.001, HANGZHOU[1], 10.0)  # about 111 m north
        found = p.check_far_from_meter(fix, HANGZHOU, TH)
        assert found is not None
        assert found.kind == FlagKind.FAR_FROM_METER
        assert "111 m" in found.detail

    def test_a_fix_within_accuracy_and_tolerance_is_not(self) -> None:
        fix = Fix(T0, HANGZHOU[0] + 0.0003, HANGZHOU[1], 10.0)  # 33 m, allowed 40 m
        assert p.check_far_from_meter(fix, HANGZHOU, TH) is None

    def test_a_meter_without_a_registered_place_cannot_be_checked(self) -> None:
        assert p.check_far_from_meter(Fix(T0, 0.5, 0.5, 5.0), None, TH) is None

    def test_poor_accuracy_is_flagged_and_good_accuracy_is_not(self) -> None:
        found = p.check_accuracy(120.0, TH)
        assert found is not None
        assert found.kind == FlagKind.POOR_ACCURACY
        assert p.check_accuracy(8.0, TH) is None


class TestSpeed:
    here = Fix(T0, HANGZHOU[0], HANGZHOU[1], 5.0)

    def test_two_kilometres_in_half_a_minute_is_impossible(self) -> None:
        other = Fix(T0 - 30_000, HANGZHOU[0] + 0.018, HANGZHOU[1], 5.0)
        found = p.check_speed(self.here, [other], TH)
        assert found is not None
        assert found.kind == FlagKind.IMPOSSIBLE_SPEED
        assert "earlier" in found.detail

    def test_two_places_at_the_same_instant_are_impossible(self) -> None:
        other = Fix(T0, HANGZHOU[0] + 0.005, HANGZHOU[1], 5.0)
        found = p.check_speed(self.here, [other], TH)
        assert found is not None
        assert "same instant" in found.detail

    def test_walking_between_neighbouring_houses_is_possible(self) -> None:
        other = Fix(T0 + 120_000, HANGZHOU[0] + 0.001, HANGZHOU[1], 5.0)  # 111 m in 2 min
        assert p.check_speed(self.here, [other], TH) is None

    def test_gps_jitter_within_the_accuracy_is_not_movement(self) -> None:
        other = Fix(T0 + 1_000, HANGZHOU[0] + 0.0001, HANGZHOU[1], 10.0)  # 11 m, accuracies 15
        assert p.check_speed(self.here, [other], TH) is None


class TestRepeatedCoordinates:
    def test_one_fix_reused_for_meters_far_apart_is_flagged(self) -> None:
        found = p.check_repeated_coordinates([SameFix("M2", "r-2", 350.0)], TH)
        assert found is not None
        assert found.kind == FlagKind.REPEATED_COORDINATES
        assert "meter M2" in found.detail

    def test_meters_of_one_meter_box_may_share_a_fix(self) -> None:
        assert p.check_repeated_coordinates([SameFix("M2", "r-2", 0.0)], TH) is None

    def test_no_other_reading_with_these_coordinates_is_not_flagged(self) -> None:
        assert p.check_repeated_coordinates([], TH) is None


class TestTimes:
    def test_a_submission_long_after_the_fix_is_flagged(self) -> None:
        found = p.check_late_submission(T0, T0 + 30 * HOUR_MS, TH)
        assert found is not None
        assert found.kind == FlagKind.LATE_SUBMISSION

    def test_a_submission_within_the_day_is_not(self) -> None:
        assert p.check_late_submission(T0, T0 + 3 * HOUR_MS, TH) is None

    def test_a_device_clock_far_from_the_fix_time_is_flagged(self) -> None:
        found = p.check_clock_skew(T0 + 45 * 60_000, T0, TH)
        assert found is not None
        assert found.kind == FlagKind.CLOCK_SKEW

    def test_a_device_clock_close_to_the_fix_time_is_not(self) -> None:
        assert p.check_clock_skew(T0 + 30_000, T0, TH) is None


class TestAmi:
    before = Sample(T0 - HOUR_MS, 1_000_000)
    after = Sample(T0 + HOUR_MS, 1_002_000)

    @pytest.mark.parametrize(("value", "word"), [(990_000, "below"), (1_010_000, "above")])
    def test_a_value_outside_the_ami_readings_around_it_is_flagged(
        self, value: int, word: str
    ) -> None:
        found = p.check_ami(value, self.before, self.after, TH)
        assert found is not None
        assert found.kind == FlagKind.AMI_DISAGREEMENT
        assert word in found.detail

    def test_a_value_between_the_ami_readings_is_not(self) -> None:
        assert p.check_ami(1_001_000, self.before, self.after, TH) is None

    def test_a_value_within_tolerance_of_one_side_is_not(self) -> None:
        assert p.check_ami(999_500, self.before, None, TH) is None

    def test_without_ami_readings_nothing_is_compared(self) -> None:
        assert p.check_ami(1, None, None, TH) is None
