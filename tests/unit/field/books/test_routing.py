"""Walking routes, distances, the 'you are here' guess and route order, all pure."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.field.books.routing import Stop, path_length_m, plan_route
from backend.field.geo import bounding_box, haversine_m
from backend.field.tracks.nearby import Candidate, probable
from backend.field.tracks.service import in_order

LAT, LON = 30.27, 120.15


def test_haversine_matches_a_known_distance() -> None:
    # one thousandth of a degree of latitude is about 111.2 m anywhere
    assert abs(haversine_m(LAT, LON, LAT + 0.001, LON) - 111.19) < 0.05
    # West Lake (Hangzhou) to the Bund (Shanghai) is about 165 km as the crow flies
    assert 160_000 < haversine_m(30.2431, 120.1500, 31.2400, 121.4900) < 170_000


@given(
    st.floats(min_value=0, max_value=360),
    st.floats(min_value=0, max_value=0.999),
    st.floats(min_value=10, max_value=2000),
)
@settings(max_examples=200)
def test_the_bounding_box_contains_the_whole_circle(
    bearing: float, frac: float, radius: float
) -> None:
    import math

    box = bounding_box(LAT, LON, radius)
    d = radius * frac
    lat = LAT + d * math.cos(math.radians(bearing)) / 111_195
    lon = LON + d * math.sin(math.radians(bearing)) / (111_195 * math.cos(math.radians(LAT)))
    assert haversine_m(LAT, LON, lat, lon) <= radius
    assert box.min_lat <= lat <= box.max_lat
    assert box.min_lon <= lon <= box.max_lon


def _scatter(n: int, seed: int = 7) -> list[Stop]:
    rng = random.Random(seed)
    return [
        Stop(i, LAT + rng.uniform(-0.006, 0.006), LON + rng.uniform(-0.008, 0.008), f"#{i}")
        for i in range(n)
    ]


def _length(stops: list[Stop], order: list[int]) -> float:
    by_key = {s.key: s for s in stops}
    return path_length_m([(by_key[k].lat, by_key[k].lon) for k in order])  # type: ignore[misc]


def test_the_route_visits_every_stop_once() -> None:
    stops = _scatter(120)
    order = plan_route(stops)
    assert sorted(order) == list(range(120))


def test_the_planned_route_is_much_shorter_than_the_register_order() -> None:
    stops = _scatter(200)
    planned = _length(stops, plan_route(stops))
    as_registered = _length(stops, [s.key for s in stops])
    assert planned < as_registered / 4


def test_the_route_is_deterministic() -> None:
    stops = _scatter(80)
    assert plan_route(stops) == plan_route(list(reversed(stops)))


def test_meters_in_one_meter_box_are_read_one_after_another() -> None:
    box = [Stop(100 + i, LAT, LON, "box") for i in range(12)]
    stops = _scatter(40) + box
    order = plan_route(stops)
    positions = sorted(order.index(s.key) for s in box)
    assert positions == list(range(positions[0], positions[0] + 12))


def test_a_given_start_is_where_the_walk_begins() -> None:
    stops = _scatter(50)
    start = (LAT + 0.006, LON + 0.008)  # the north-east corner
    first = plan_route(stops, start=start)[0]
    nearest = min(stops, key=lambda s: haversine_m(*start, s.lat, s.lon))  # type: ignore[arg-type]
    assert first == nearest.key


def test_stops_without_coordinates_come_last_by_address() -> None:
    stops = [*_scatter(5), Stop(90, None, None, "b"), Stop(91, None, LON, "a")]
    assert plan_route(stops)[-2:] == [91, 90]


def test_the_longest_in_order_run_leaves_out_the_backtracks() -> None:
    seqs = [1, 2, 9, 3, 4, 5, 6, 7]  # item 9 read early
    keep = in_order(seqs)
    assert [seqs[i] for i in sorted(keep)] == [1, 2, 3, 4, 5, 6, 7]
    assert in_order([]) == set()
    assert in_order([3, 2, 1]) in ({0}, {1}, {2})


def test_standing_at_a_lone_house_is_a_confident_guess() -> None:
    found = probable([Candidate(2.0, LAT, LON), Candidate(80.0, LAT + 0.0007, LON)], 8.0, 15.0)
    assert found is not None
    confidence, group = found
    assert group == [0]
    assert confidence > 0.9


def test_a_meter_box_is_guessed_whole() -> None:
    box = [Candidate(4.0, LAT, LON) for _ in range(6)]
    found = probable([*box, Candidate(60.0, LAT + 0.0005, LON)], 8.0, 15.0)
    assert found is not None
    assert found[1] == [0, 1, 2, 3, 4, 5]


def test_between_two_doors_the_guess_is_unsure() -> None:
    found = probable([Candidate(9.0, LAT, LON), Candidate(11.0, LAT + 0.0002, LON)], 8.0, 15.0)
    assert found is not None
    assert found[0] < 0.5


def test_nothing_within_accuracy_and_tolerance_is_no_guess() -> None:
    assert probable([Candidate(60.0, LAT, LON)], 8.0, 15.0) is None
    assert probable([], 8.0, 15.0) is None
