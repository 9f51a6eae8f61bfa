"""The simulated meter: registers, tariffs, relay, freezes, clock and events, driven by time."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge_agent.simulators.loadshape import Profile, Tariff, TouSchedule
from edge_agent.simulators.meter import (
    DAY_MS,
    MINUTE_MS,
    MeterConfig,
    MeterModel,
    RelayRefused,
)
from protocols.contract.messages import RelayState
from protocols.contract.quantities import Quantity as Q

# Monday 2025-03-03 00:00 in Beijing (UTC+8).
MONDAY = int((datetime(2025, 3, 2, 16, 0) - datetime(1970, 1, 1)).total_seconds() * 1000)
HOUR_MS = 60 * MINUTE_MS
ENERGY = [Q.ENERGY_IMPORT, Q.ENERGY_IMPORT_T1, Q.ENERGY_IMPORT_T2, Q.ENERGY_IMPORT_T3,
          Q.ENERGY_IMPORT_T4, Q.REACTIVE_ENERGY_IMPORT]  # fmt: skip


def exact(profile: Profile = Profile.RESIDENTIAL, seed: int = 7, **changes: object) -> MeterConfig:
    config = MeterConfig.generate("111111111111", seed, profile, clock_error=False)
    return MeterConfig(**{**config.__dict__, **changes})  # type: ignore[arg-type]


def model(config: MeterConfig | None = None, at: int = MONDAY) -> MeterModel:
    return MeterModel(config or exact(), at)


def test_monday_constant_is_midnight_in_beijing() -> None:
    assert model().meter_time(MONDAY) == datetime(2025, 3, 3, 0, 0)


def test_energy_registers_only_ever_rise_through_relay_and_supply_changes() -> None:
    meter = model()
    previous = meter.registers(MONDAY)
    t = MONDAY
    for step in range(400):
        t += 7 * MINUTE_MS + 13_000
        if step % 50 == 10:
            meter.remote_disconnect(t)
        if step % 50 == 20:
            meter.remote_reconnect(t, arm=False)
        if step % 70 == 30:
            meter.power_fail(t)
        if step % 70 == 40:
            meter.power_restore(t)
        current = meter.registers(t)
        assert all(current[q] >= previous[q] for q in ENERGY)
        previous = current
    assert previous[Q.ENERGY_IMPORT] > model().registers(MONDAY)[Q.ENERGY_IMPORT]


def test_registers_do_not_depend_on_how_often_the_meter_is_read() -> None:
    often, once = model(), model()
    end = MONDAY + 2 * DAY_MS + 123_456
    for t in range(MONDAY, end, 61_321):
        often.registers(t)
    assert often.registers(end) == once.registers(end)
    assert often.frozen == once.frozen


def test_the_same_seed_and_times_give_the_same_meter() -> None:
    a = MeterModel(MeterConfig.generate("x", 42, Profile.COMMERCIAL), MONDAY)
    b = MeterModel(MeterConfig.generate("x", 42, Profile.COMMERCIAL), MONDAY)
    c = MeterModel(MeterConfig.generate("x", 43, Profile.COMMERCIAL), MONDAY)
    at = MONDAY + 10 * HOUR_MS
    assert a.readings(at) == b.readings(at)
    assert a.readings(at) != c.readings(at)


def test_the_tariff_registers_sum_to_the_total_exactly() -> None:
    meter = model()
    for hours in (1, 7, 13, 30, 49):
        r = meter.registers(MONDAY + hours * HOUR_MS + 777)
        tariffs = r[Q.ENERGY_IMPORT_T1] + r[Q.ENERGY_IMPORT_T2] + r[Q.ENERGY_IMPORT_T3]
        assert r[Q.ENERGY_IMPORT] == tariffs + r[Q.ENERGY_IMPORT_T4]


def test_energy_goes_to_the_tariff_of_the_meters_local_time() -> None:
    meter = model()
    night = meter.registers(MONDAY + 2 * HOUR_MS)  # 02:00: valley (谷) until 08:00
    later = meter.registers(MONDAY + 5 * HOUR_MS)
    assert later[Q.ENERGY_IMPORT_T4] > night[Q.ENERGY_IMPORT_T4]
    for q in (Q.ENERGY_IMPORT_T1, Q.ENERGY_IMPORT_T2, Q.ENERGY_IMPORT_T3):
        assert later[q] == night[q]
    sharp_start = meter.registers(MONDAY + 19 * HOUR_MS)  # 19:00-21:00 sharp (尖)
    sharp_end = meter.registers(MONDAY + 21 * HOUR_MS)
    assert sharp_end[Q.ENERGY_IMPORT_T1] > sharp_start[Q.ENERGY_IMPORT_T1]
    assert sharp_end[Q.ENERGY_IMPORT_T4] == sharp_start[Q.ENERGY_IMPORT_T4]


def test_a_tou_schedule_is_data_and_bad_rows_are_named() -> None:
    schedule = TouSchedule.parse(["00:00 谷", "08:00 峰", "22:00 3"])
    assert schedule.tariff_at(7 * 60 + 59) is Tariff.VALLEY
    assert schedule.tariff_at(8 * 60) is Tariff.PEAK
    assert schedule.tariff_at(23 * 60) is Tariff.FLAT
    with pytest.raises(ValueError, match="'8am 峰'"):
        TouSchedule.parse(["00:00 谷", "8am 峰"])
    with pytest.raises(ValueError, match="starts at 00:00"):
        TouSchedule.parse(["01:00 谷"])


def average_w(meter: MeterModel, day: int, start_hour: float, end_hour: float) -> float:
    first = (MONDAY + day * DAY_MS) // MINUTE_MS + int(start_hour * 60)
    minutes = range(first, first + int((end_hour - start_hour) * 60))
    return sum(meter.load_w(m) for m in minutes) / len(minutes)


def test_a_household_peaks_in_the_evening_and_sleeps_at_night() -> None:
    meter = model()
    for day in range(7):
        assert average_w(meter, day, 19, 21) > 2.5 * average_w(meter, day, 2, 5)
        assert average_w(meter, day, 6.5, 7.5) > 1.5 * average_w(meter, day, 2, 5)


def test_an_office_works_on_weekdays_and_rests_at_weekends() -> None:
    meter = model(exact(Profile.COMMERCIAL))
    for weekday in range(5):
        assert average_w(meter, weekday, 9, 17) > 3 * average_w(meter, weekday, 0, 5)
        assert average_w(meter, weekday, 9, 17) > 2 * average_w(meter, 5, 9, 17)
    assert average_w(meter, 6, 9, 17) < 0.5 * average_w(meter, 2, 9, 17)


def test_instantaneous_values_agree_with_each_other() -> None:
    meter = model(exact(Profile.COMMERCIAL))
    for hour in (3, 10, 15, 20):
        now = MONDAY + hour * HOUR_MS
        r = meter.readings(now)
        phases = "ABC"
        assert r[Q.ACTIVE_POWER] == sum(r[Q[f"ACTIVE_POWER_{p}"]] for p in phases) > 0
        assert r[Q.ACTIVE_POWER] == meter.load_w(now // MINUTE_MS)
        assert r[Q.APPARENT_POWER] >= r[Q.ACTIVE_POWER]
        assert abs(r[Q.POWER_FACTOR] - 1000 * r[Q.ACTIVE_POWER] / r[Q.APPARENT_POWER]) <= 1
        for p in phases:
            volts, amps = r[Q[f"VOLTAGE_{p}"]] / 1000, r[Q[f"CURRENT_{p}"]] / 1000
            assert 0.95 * 220 <= volts <= 1.05 * 220
            assert volts * amps == pytest.approx(r[Q[f"APPARENT_POWER_{p}"]], rel=0.01, abs=1)
        assert 49_950 <= r[Q.FREQUENCY] <= 50_050


def test_tripping_the_relay_cuts_the_load_to_zero_and_stops_the_registers() -> None:
    meter = model()
    trip_at = MONDAY + 19 * HOUR_MS
    assert meter.readings(trip_at)[Q.ACTIVE_POWER] > 0
    assert meter.remote_disconnect(trip_at, operator="1A2B3C4D")
    after = meter.readings(trip_at + HOUR_MS)
    assert after[Q.ACTIVE_POWER] == after[Q.CURRENT_A] == after[Q.APPARENT_POWER] == 0
    assert after[Q.VOLTAGE_A] > 200_000  # the line side is still live
    assert after[Q.RELAY_STATE] == RelayState.DISCONNECTED
    assert after[Q.ENERGY_IMPORT] == meter.registers(trip_at)[Q.ENERGY_IMPORT]
    record = meter.events.trips[0]
    assert (record.at, record.operator) == (datetime(2025, 3, 3, 19, 0), "1A2B3C4D")
    assert record.import_wh == after[Q.ENERGY_IMPORT]
    assert meter.events.trip_count == 1
    assert not meter.remote_disconnect(trip_at + HOUR_MS)  # already open: nothing changes


def test_an_armed_relay_waits_for_the_customers_button() -> None:
    meter = model()
    t = MONDAY + 20 * HOUR_MS
    meter.remote_disconnect(t)
    assert not meter.press_button(t + 1000)  # the button does nothing while disconnected
    assert meter.remote_reconnect(t + 2000, arm=True)
    assert meter.relay is RelayState.READY_FOR_RECONNECTION
    assert meter.readings(t + 3000)[Q.ACTIVE_POWER] == 0
    assert meter.press_button(t + MINUTE_MS)
    assert meter.relay is RelayState.CONNECTED
    assert meter.readings(t + 2 * MINUTE_MS)[Q.ACTIVE_POWER] > 0
    assert meter.events.closes[0].operator == "FFFFFFFF"
    assert meter.status_word_3() == 0


def test_keep_power_refuses_a_trip() -> None:
    meter = model()
    meter.keep_power = True
    with pytest.raises(RelayRefused):
        meter.remote_disconnect(MONDAY + HOUR_MS)
    assert meter.relay is RelayState.CONNECTED


def test_status_word_3_carries_the_relay_bits() -> None:
    meter = model()
    meter.remote_disconnect(MONDAY)
    assert meter.status_word_3() == 0x0050  # open, trip command in force
    meter.remote_reconnect(MONDAY, arm=True)
    assert meter.status_word_3() == 0x0010  # open, command lifted: waiting for the button


def test_the_meter_freezes_its_registers_at_midnight_and_keeps_the_last_days() -> None:
    meter = model(exact(frozen_days=3))
    midnight = MONDAY + DAY_MS
    at_midnight = meter.registers(midnight)
    assert meter.frozen[0].at == datetime(2025, 3, 4)
    assert meter.frozen[0].import_wh == tuple(at_midnight[q] for q in ENERGY[:5])
    meter.registers(midnight + 4 * DAY_MS + HOUR_MS)
    assert [f.at for f in meter.frozen] == [datetime(2025, 3, d) for d in (8, 7, 6)]
    assert meter.frozen[0].import_wh[0] > meter.frozen[1].import_wh[0]


def test_the_meter_clock_drifts_and_can_be_set() -> None:
    meter = model(exact(clock_drift_ppm=20.0, clock_offset_ms=-5000))
    assert meter.clock_offset_ms(MONDAY) == -5000
    assert meter.clock_offset_ms(MONDAY + DAY_MS) == -5000 + 1728  # 20 ppm of a day
    set_at = MONDAY + DAY_MS
    meter.set_clock(set_at, datetime(2025, 3, 4, 0, 0, 0))
    assert meter.clock_offset_ms(set_at) == 0
    assert meter.meter_time(set_at + 1000) == datetime(2025, 3, 4, 0, 0, 1)


def test_a_slow_meter_clock_freezes_late() -> None:
    meter = model(exact(clock_offset_ms=-10 * MINUTE_MS))  # ten minutes slow: shows 23:50
    meter.registers(MONDAY + 9 * MINUTE_MS)
    assert len(meter.frozen) == 0  # its clock shows 23:59
    meter.registers(MONDAY + 10 * MINUTE_MS)
    assert meter.frozen[0].at == datetime(2025, 3, 3)


def test_a_power_failure_is_recorded_with_its_start_and_end() -> None:
    meter = model()
    fail, back = MONDAY + 10 * HOUR_MS, MONDAY + 12 * HOUR_MS
    meter.power_fail(fail)
    during = meter.readings(fail + HOUR_MS)
    assert during[Q.VOLTAGE_A] == during[Q.ACTIVE_POWER] == 0
    assert during[Q.ENERGY_IMPORT] == meter.registers(fail)[Q.ENERGY_IMPORT]
    meter.power_restore(back)
    record = meter.events.power_failures[0]
    assert (record.start, record.end) == (datetime(2025, 3, 3, 10), datetime(2025, 3, 3, 12))
    assert meter.events.power_failure_count == 1
    assert meter.readings(back + MINUTE_MS)[Q.VOLTAGE_A] > 200_000


def test_demand_is_the_highest_sliding_fifteen_minute_average() -> None:
    meter = model()
    start = MONDAY + 19 * HOUR_MS
    meter.registers(start)
    meter.max_demand[0] = type(meter.max_demand[0])()  # forget the day so far
    meter.registers(start + 15 * MINUTE_MS)
    first = start // MINUTE_MS - 14
    loads = [meter.load_w(first + i) for i in range(29)]  # 18:46 .. 19:14
    windows = [sum(loads[i : i + 15]) // 15 for i in range(15)]  # ending 19:01 .. 19:15
    best = max(windows)
    assert meter.max_demand[0].w == best
    assert meter.max_demand[0].at == datetime(2025, 3, 3, 19, 1 + windows.index(best))


def test_time_running_backwards_changes_nothing() -> None:
    meter = model()
    later = meter.registers(MONDAY + HOUR_MS)
    assert meter.registers(MONDAY + 10) == later
    assert meter.now_ms == MONDAY + HOUR_MS
