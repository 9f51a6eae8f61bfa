"""Nearby meters and the customer at the inspector's position (R3)."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from backend.field.geo import haversine_m
from tests.integration.field.conftest import Tokens
from tests.integration.field.district import District


async def test_standing_at_a_meter_box_pops_up_its_meters_nearest_first(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    flats = district.in_grid("west", kind="flat")
    box = [m for m in flats if (m.lat, m.lon) == (flats[0].lat, flats[0].lon)]
    lat, lon = box[0].lat + 0.00003, box[0].lon  # 3 m from the meter box
    r = await client.get(
        "/api/field/nearby",
        params={"lat": lat, "lon": lon, "accuracy_m": 6},
        headers=auth("insp-west"),
    )
    assert r.status_code == 200
    near = r.json()
    here = near["here"]
    assert sorted(m["meter_id"] for m in here["meters"]) == sorted(m.meter_id for m in box)
    assert here["confidence"] > 0.8
    assert here["meters"][0]["customer"]["address"].startswith("杭州市西湖区")
    distances = [m["distance_m"] for m in near["meters"]]
    assert distances == sorted(distances)
    assert all(d <= 300 for d in distances)
    expected = [
        m.meter_id for m in district.in_grid("west") if haversine_m(lat, lon, m.lat, m.lon) <= 300
    ]
    assert sorted(m["meter_id"] for m in near["meters"]) == sorted(expected)


async def test_in_the_street_between_buildings_nothing_pops_up(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    m = district.in_grid("central")[0]
    r = await client.get(
        "/api/field/nearby",
        params={"lat": m.lat - 0.0009, "lon": m.lon, "accuracy_m": 5, "radius_m": 500},
        headers=auth("insp-central"),
    )
    assert r.json()["here"] is None
    assert r.json()["meters"] != []


async def test_nearby_shows_only_the_inspectors_own_grid(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    east = district.in_grid("east")[0]
    params = {"lat": east.lat, "lon": east.lon, "accuracy_m": 5, "radius_m": 2000}
    west_view = (
        await client.get("/api/field/nearby", params=params, headers=auth("insp-west"))
    ).json()
    west_ids = {m.meter_id for m in district.in_grid("west")}
    assert west_view["here"] is None
    assert {m["meter_id"] for m in west_view["meters"]} <= west_ids
    east_view = (
        await client.get("/api/field/nearby", params=params, headers=auth("insp-east"))
    ).json()
    assert east.meter_id in {m["meter_id"] for m in east_view["here"]["meters"]}


async def test_a_radius_beyond_the_limit_is_refused_naming_it(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    r = await client.get(
        "/api/field/nearby",
        params={"lat": 30.27, "lon": 120.15, "radius_m": 5000},
        headers=auth("insp-west"),
    )
    assert r.status_code == 400
    assert "radius_m must be between 0 and 2000 m" in r.json()["detail"]
    r = await client.get(
        "/api/field/nearby", params={"lat": 95, "lon": 120.15}, headers=auth("insp-west")
    )
    assert r.status_code == 400
    assert "lat" in r.text
