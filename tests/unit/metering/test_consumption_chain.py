"""The pure rules of consumption: intervals, rollover, anomalies, local days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from backend.metering.consumption import (
    Point,
    chain,
    day_start_ms,
    days_of,
    points_after,
    reading_day,
    rollover_modulus,
)
from backend.metering.schemas import EnergyQuantity
from protocols.contract.quantities import ENERGY_QUANTITIES

SHANGHAI = ZoneInfo("Asia/Shanghai")


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_consecutive_readings_make_intervals_of_their_difference() -> None:
    intervals, anomalies, first = chain(None, [Point(1, 100), Point(2, 150), Point(3, 175)])
    assert [i.wh for i in intervals] == [50, 25]
    assert anomalies == []
    assert first == Point(1, 100)


def test_out_of_order_input_is_walked_in_time_order() -> None:
    intervals, _, _ = chain(None, [Point(3, 175), Point(1, 100), Point(2, 150)])
    assert [(i.start.ts, i.end.ts, i.wh) for i in intervals] == [(1, 2, 50), (2, 3, 25)]


def test_dlt645_register_wrapping_at_999999_99_kwh_is_a_rollover() -> None:
    # 999999.95 kWh -> 0.15 kWh: 0.20 kWh = 200 Wh consumed across the wrap at 10^9 Wh
    intervals, anomalies, _ = chain(Point(1, 999_999_950), [Point(2, 150)])
    assert anomalies == []
    assert intervals[0].wh == 200
    assert intervals[0].rollover


def test_a_32_bit_counter_wrap_is_a_rollover() -> None:
    assert rollover_modulus(2**32 - 10, 5) == 2**32


def test_a_drop_far_from_the_maximum_is_an_anomaly_not_charged() -> None:
    intervals, anomalies, _ = chain(Point(1, 5_000), [Point(2, 4_000), Point(3, 5_100)])
    assert [a.reading for a in anomalies] == [Point(2, 4_000)]
    assert anomalies[0].baseline == Point(1, 5_000)
    # the chain carries on from the last accepted reading: the glitch is not counted twice
    assert [i.wh for i in intervals] == [100]


def test_a_reading_at_local_midnight_closes_the_previous_day() -> None:
    midnight = ms(2026, 3, 1, 16, 0)  # 2026-03-02 00:00 in Shanghai
    assert reading_day(midnight, SHANGHAI) == date(2026, 3, 1)
    assert reading_day(midnight + 1, SHANGHAI) == date(2026, 3, 2)
    assert day_start_ms(date(2026, 3, 2), SHANGHAI) == midnight


@given(
    zone=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/Sao_Paulo", "America/Havana"]),
    week=st.sampled_from([1_774_569_600_000, 1_792_713_600_000]),  # 27 March, 23 October 2026
    offsets=st.lists(st.integers(0, 6 * 86_400_000), min_size=2, max_size=40),
)
def test_the_day_of_a_reading_is_its_local_day_whichever_day_was_asked_before(
    zone: str, week: int, offsets: list[int]
) -> None:
    """reading_day remembers the last ordinary day it found; a reading of another day, of a
    daylight-saving day (Havana's clocks change at midnight) or at a midnight is still put in
    the local day (midnight, midnight] it belongs to."""
    tz = ZoneInfo(zone)
    for ts in [week + o for o in offsets] + [week + offsets[0] // 86_400_000 * 86_400_000]:
        assert reading_day(ts, tz) == datetime.fromtimestamp((ts - 1) // 1000, tz).date()


def test_intervals_are_bucketed_by_the_local_day_they_end_in() -> None:
    points = [
        Point(ms(2026, 3, 1, 15, 0), 1000),  # 23:00 local, 1 March
        Point(ms(2026, 3, 1, 16, 0), 1300),  # 00:00 local, closes 1 March
        Point(ms(2026, 3, 1, 17, 0), 1700),  # 01:00 local, 2 March
    ]
    intervals, anomalies, first = chain(None, points)
    rows = days_of(first, intervals, anomalies, SHANGHAI)
    assert [(r.day, r.wh) for r in rows] == [(date(2026, 3, 1), 300), (date(2026, 3, 2), 400)]
    assert rows[1].last == Point(ms(2026, 3, 1, 17, 0), 1700)


def test_energy_quantity_enum_matches_the_contracts_cumulative_quantities() -> None:
    assert {q.value for q in EnergyQuantity} == {q.value for q in ENERGY_QUANTITIES}


readings = st.lists(
    st.tuples(st.integers(0, 10**7), st.integers(0, 2_000)), min_size=1, max_size=60
)


@given(readings, st.integers(1, 59))
def test_walking_in_two_pieces_equals_walking_at_once(raw: list[tuple[int, int]], cut: int) -> None:
    # a monotonic register: cumulative sums of increments at distinct times
    ts = sorted({t for t, _ in raw})
    values, total = [], 0
    for (_, inc), _t in zip(raw, ts, strict=False):
        total += inc
        values.append(total)
    points = [Point(t, v) for t, v in zip(ts, values, strict=False)]
    whole, _, _ = chain(None, points)
    head, _, _ = chain(None, points[:cut])
    base = points[:cut][-1] if points[:cut] else None
    tail, _, _ = chain(base, points[cut:])
    assert sum(i.wh for i in head + tail) == sum(i.wh for i in whole)
    assert sum(i.wh for i in whole) == points[-1].value - points[0].value


quantities = st.sampled_from(["energy_import", "energy_export"])
chain_rows = st.lists(
    st.tuples(st.integers(1, 4), quantities, st.integers(0, 50), st.integers(0, 10**6)),
    max_size=60,
    unique_by=lambda r: r[:3],
)


@given(chain_rows, st.dictionaries(st.tuples(st.integers(1, 5), quantities), st.integers(-1, 50)))
def test_each_chains_points_are_its_rows_after_its_instant_in_time_order(
    rows: list[tuple[int, str, int, int]], after: dict[tuple[int, str], int]
) -> None:
    """Rows in the readings' key order (``CHAIN_ORDER``), grouped without a lookup a row, give
    what filtering every row against its chain's instant gives."""
    got = points_after(sorted(rows), after)
    for key, since in after.items():
        expected = [Point(ts, v) for m, q, ts, v in sorted(rows) if (m, q) == key and ts > since]
        assert got.get(key, []) == expected
    assert set(got) <= set(after)
