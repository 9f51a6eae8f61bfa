"""Meter boxes (表箱) of an area over HTTP: listed, created once, meters placed in them, and
scoped to the caller's org unit."""

from __future__ import annotations

import asyncio

from tests.integration.api.test_org_units import scope, two_cities
from tests.integration.areas.conftest import Net


async def test_a_box_is_created_once_and_counts_the_meters_placed_in_it(net: Net) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    url = f"/api/areas/{w.area1}/boxes"
    first, again = await asyncio.gather(
        api.client.post(url, json={"code": "BX-01"}, headers=op),
        api.client.post(url, json={"code": "BX-01"}, headers=op),
    )
    assert (first.status_code, again.status_code) == (200, 200), first.text + again.text
    assert first.json()["id"] == again.json()["id"]
    box = first.json()["id"]
    moved = await api.client.put(
        f"/api/areas/meters/{net.carol_meter}/placement",
        json={"transformer_area_id": w.area1, "meter_box_id": box, "from_day": "2026-03-01"},
        headers=op,
    )
    assert moved.status_code == 200, moved.text
    listed = await api.client.get(url, headers=op)
    assert listed.json() == [
        {"id": box, "code": "BX-01", "transformer_area_id": w.area1, "meters": 1}
    ]


async def test_a_box_code_of_another_area_and_bad_codes_are_refused(net: Net) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    made = await api.client.post(f"/api/areas/{w.area1}/boxes", json={"code": "BX-02"}, headers=op)
    assert made.status_code == 200, made.text
    taken = await api.client.post(f"/api/areas/{w.area2}/boxes", json={"code": "BX-02"}, headers=op)
    assert (taken.status_code, taken.json()["code"]) == (409, "error.meter_box_code_taken")
    for bad in ({"code": ""}, {"code": "x" * 33}, {"code": "a b"}, {}, {"code": 7}):
        r = await api.client.post(f"/api/areas/{w.area1}/boxes", json=bad, headers=op)
        assert r.status_code == 400, (bad, r.text)
    missing = await api.client.get("/api/areas/999999/boxes", headers=op)
    assert (missing.status_code, missing.json()["code"]) == (404, "error.area_not_found")


async def test_staff_of_another_unit_get_404_and_inspectors_and_customers_403(net: Net) -> None:
    api, w = net.api, net.api.world
    ids = await two_cities(api)
    await scope(api, "sup", ids["city_a"])
    sup = await api.login("sup")
    own = await api.client.post(f"/api/areas/{w.area1}/boxes", json={"code": "BX-A"}, headers=sup)
    assert own.status_code == 200, own.text
    for method, body in (("GET", None), ("POST", {"code": "BX-B"})):
        r = await api.client.request(method, f"/api/areas/{w.area2}/boxes", json=body, headers=sup)
        assert (r.status_code, r.json()["code"]) == (404, "error.area_not_found")
    for user in ("insp1", "alice"):
        r = await api.client.get(f"/api/areas/{w.area1}/boxes", headers=await api.login(user))
        assert r.status_code == 403
