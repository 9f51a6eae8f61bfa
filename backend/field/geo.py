"""Distances on the earth, pure: haversine and the bounding box that prefilters a radius in SQL.

No PostGIS: a radius query first selects the latitude/longitude box around the point (an index
range scan on both SQLite and PostgreSQL), then measures the few candidates exactly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG); the error against WGS 84 is < 0.5 %
_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0


class Box(NamedTuple):
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, radius_m: float) -> Box:
    """A box that contains every point within ``radius_m`` of (lat, lon).

    Slightly larger than the circle, never smaller: the exact haversine filter follows. Near
    the poles the longitude span is the whole circle (no meters there, but stay correct).
    """
    dlat = radius_m / _M_PER_DEG_LAT
    cos_lat = math.cos(math.radians(min(89.0, abs(lat) + dlat)))
    dlon = 180.0 if cos_lat <= 0 else min(180.0, radius_m / (_M_PER_DEG_LAT * cos_lat))
    return Box(lat - dlat, lat + dlat, lon - dlon, lon + dlon)
