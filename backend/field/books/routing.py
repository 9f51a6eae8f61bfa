"""A walkable order for a reading book (抄表册): nearest neighbour, then 2-opt. Pure.

The inspector walks, so the route is an open path (no return to the start) over the stops'
coordinates. Nearest neighbour from the start gives a reasonable path; 2-opt then removes the
crossings nearest neighbour leaves behind (each accepted move strictly shortens the path, so the
result is never longer than nearest neighbour's). Meters in one meter box (表箱) share a
position, are at distance zero from each other and so come out consecutive.

Start: a given point (the office, the inspector's position) or, by default, the stop farthest
from the centroid, i.e. one end of the area rather than its middle. Stops without coordinates
cannot be placed; they go last, in their label order, so the book still lists them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from backend.field.geo import haversine_m

MAX_TWO_OPT_STOPS = 600  # O(n²) per pass; beyond this nearest neighbour alone is kept
MAX_TWO_OPT_PASSES = 8


@dataclass(frozen=True)
class Stop:
    key: int
    lat: float | None
    lon: float | None
    label: str = ""  # address, for ordering stops without coordinates


def path_length_m(points: Sequence[tuple[float, float]]) -> float:
    return sum(haversine_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(points))


def plan_route(stops: Sequence[Stop], start: tuple[float, float] | None = None) -> list[int]:
    """Return the stops' keys in walking order."""
    placed = sorted(
        ((s, (s.lat, s.lon)) for s in stops if s.lat is not None and s.lon is not None),
        key=lambda t: t[0].key,
    )
    unplaced = sorted((s for s in stops if s.lat is None or s.lon is None), key=_label)
    if not placed:
        return [s.key for s in unplaced]
    points = [p for _, p in placed]
    if start is not None:
        points.insert(0, start)
    n = len(points)
    dist = [[haversine_m(*points[i], *points[j]) for j in range(n)] for i in range(n)]
    first = 0 if start is not None else _farthest_from_centroid(points)
    order = _nearest_neighbour(dist, first)
    if n <= MAX_TWO_OPT_STOPS:
        order = _two_opt(dist, order)
    if start is not None:
        order = [i - 1 for i in order if i != 0]
    return [placed[i][0].key for i in order] + [s.key for s in unplaced]


def _label(s: Stop) -> tuple[str, int]:
    return (s.label, s.key)


def _farthest_from_centroid(points: list[tuple[float, float]]) -> int:
    clat = sum(p[0] for p in points) / len(points)
    clon = sum(p[1] for p in points) / len(points)
    return max(range(len(points)), key=lambda i: (haversine_m(clat, clon, *points[i]), -i))


def _nearest_neighbour(dist: list[list[float]], first: int) -> list[int]:
    n = len(dist)
    order = [first]
    left = set(range(n)) - {first}
    current = first
    while left:
        # ties (a meter box) break on the index, so the plan is deterministic
        current = min(left, key=lambda j: (dist[current][j], j))
        left.remove(current)
        order.append(current)
    return order


def _two_opt(dist: list[list[float]], order: list[int]) -> list[int]:
    """Open-path 2-opt with the first stop fixed (the start stays the start)."""
    route = list(order)
    n = len(route)
    for _ in range(MAX_TWO_OPT_PASSES):
        improved = False
        for i in range(n - 2):
            a, b = route[i], route[i + 1]
            dab = dist[a][b]
            row_a = dist[a]
            for j in range(i + 2, n):
                c = route[j]
                if j + 1 < n:
                    e = route[j + 1]
                    delta = row_a[c] + dist[b][e] - dab - dist[c][e]
                else:  # reversing the tail: only edge (a, b) is replaced by (a, c)
                    delta = row_a[c] - dab
                if delta < -1e-6:
                    route[i + 1 : j + 1] = reversed(route[i + 1 : j + 1])
                    b = route[i + 1]
                    dab = dist[a][b]
                    improved = True
        if not improved:
            break
    return route
