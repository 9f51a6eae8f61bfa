"""Meters and customers near the handheld's position, and the one the inspector is most
probably standing at (R3: the customer pops up by itself).

A latitude/longitude box around the point is selected in SQL (indexed on meters and customers,
no PostGIS needed), the candidates are measured exactly with haversine, nearest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, NamedTuple

import msgspec
from msgspec import Meta
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.scope import customer_scope
from backend.errors import ErrorCode as E
from backend.errors import Invalid
from backend.field.geo import bounding_box, haversine_m
from backend.metering.models import Meter, MeterStatus

CO_LOCATED_M = 3.0  # meters this close share a meter box (表箱): one stop, several meters
MAX_ITEMS = 100


class NearbyCustomer(msgspec.Struct, kw_only=True):
    id: int
    number: str
    name: str
    address: str


class NearbyMeter(msgspec.Struct, kw_only=True):
    meter_id: str
    serial: str
    customer: NearbyCustomer
    latitude: float
    longitude: float
    distance_m: float


class Here(msgspec.Struct, kw_only=True):
    """The stop the inspector is most probably at: one meter or a whole meter box."""

    confidence: Annotated[float, Meta(ge=0, le=1)]
    distance_m: float
    meters: list[NearbyMeter]


class Nearby(msgspec.Struct, kw_only=True):
    latitude: float
    longitude: float
    accuracy_m: float
    radius_m: float
    here: Here | None
    meters: list[NearbyMeter]


class Candidate(NamedTuple):
    distance_m: float
    lat: float
    lon: float


def probable(
    candidates: Sequence[Candidate], accuracy_m: float, tolerance_m: float
) -> tuple[float, list[int]] | None:
    """(confidence, indices of the stop) for candidates sorted nearest first, or None.

    The nearest stop counts if it lies within the fix's accuracy plus a tolerance (R). The
    confidence is half closeness (1 - d₁/R) and half separation from the next other stop
    (min(1, (d₂ - d₁)/R)): standing at a lone house is surer than between two doors."""
    if not candidates:
        return None
    reach = accuracy_m + tolerance_m
    first = candidates[0]
    if first.distance_m > reach:
        return None
    group = [
        i
        for i, c in enumerate(candidates)
        if haversine_m(first.lat, first.lon, c.lat, c.lon) <= CO_LOCATED_M
    ]
    others = [c.distance_m for i, c in enumerate(candidates) if i not in group]
    separation = 1.0 if not others else min(1.0, (min(others) - first.distance_m) / reach)
    confidence = 0.5 * (1.0 - first.distance_m / reach) + 0.5 * max(0.0, separation)
    return round(confidence, 3), group


async def nearby(
    session: AsyncSession,
    caller: Caller,
    lat: float,
    lon: float,
    accuracy_m: float,
    radius_m: float,
    max_radius_m: float,
    tolerance_m: float,
) -> Nearby:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid(
            E.NOT_ON_EARTH,
            f"position {lat}, {lon} is not on the earth",
            field="lat",
            lat=lat,
            lon=lon,
        )
    if not 0 < radius_m <= max_radius_m:
        raise Invalid(
            E.RADIUS_OUT_OF_RANGE,
            f"radius_m must be between 0 and {max_radius_m:.0f} m",
            field="radius_m",
            max_m=round(max_radius_m),
        )
    if not 0 < accuracy_m <= 100_000:
        raise Invalid(
            E.ACCURACY_INVALID, "accuracy_m must be a positive number of metres", field="accuracy_m"
        )
    box = bounding_box(lat, lon, radius_m)
    own = and_(
        Meter.latitude.between(box.min_lat, box.max_lat),
        Meter.longitude.between(box.min_lon, box.max_lon),
    )
    inherited = and_(
        Meter.latitude.is_(None),
        Customer.latitude.between(box.min_lat, box.max_lat),
        Customer.longitude.between(box.min_lon, box.max_lon),
    )
    rows = await session.execute(
        select(Meter, Customer)
        .join(Customer, Customer.id == Meter.customer_id)
        .where(or_(own, inherited), Meter.status != MeterStatus.REMOVED, customer_scope(caller))
    )
    found: list[NearbyMeter] = []
    for meter, customer in rows:
        m_lat = meter.latitude if meter.latitude is not None else customer.latitude
        m_lon = meter.longitude if meter.longitude is not None else customer.longitude
        assert m_lat is not None
        assert m_lon is not None
        d = haversine_m(lat, lon, m_lat, m_lon)
        if d > radius_m:
            continue
        found.append(
            NearbyMeter(
                meter_id=meter.meter_id,
                serial=meter.serial,
                customer=NearbyCustomer(
                    id=customer.id,
                    number=customer.number,
                    name=customer.name,
                    address=customer.address,
                ),
                latitude=m_lat,
                longitude=m_lon,
                distance_m=round(d, 1),
            )
        )
    found.sort(key=lambda m: (m.distance_m, m.meter_id))
    found = found[:MAX_ITEMS]
    guess = probable(
        [Candidate(m.distance_m, m.latitude, m.longitude) for m in found], accuracy_m, tolerance_m
    )
    here = None
    if guess is not None:
        confidence, group = guess
        here = Here(
            confidence=confidence,
            distance_m=found[group[0]].distance_m,
            meters=[found[i] for i in group],
        )
    return Nearby(
        latitude=lat,
        longitude=lon,
        accuracy_m=accuracy_m,
        radius_m=radius_m,
        here=here,
        meters=found,
    )
