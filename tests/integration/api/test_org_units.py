"""Organisation units province → city → district → grid (R110): staff scoped to a unit see the
customers of every grid below it and nothing else (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.api.conftest import Api

UNITS = "/api/org-units"


async def unit(api: Api, admin: dict[str, str], **body: Any) -> int:
    r = await api.client.post(UNITS, json=body, headers=admin)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def two_cities(api: Api) -> dict[str, int]:
    """One province; city A holds district A with grid 1 (alice), city B district B with grid 2
    (bob)."""
    admin = await api.login("admin")
    prov = await unit(api, admin, level="province", code="P1", name="某省")
    ids = {"prov": prov}
    for x, grid in (("a", api.world.grid1), ("b", api.world.grid2)):
        ids[f"city_{x}"] = await unit(
            api, admin, level="city", code=f"C{x}", name=f"{x}市", parent_id=prov
        )
        ids[f"dist_{x}"] = await unit(
            api, admin, level="district", code=f"D{x}", name=f"{x}区", parent_id=ids[f"city_{x}"]
        )
        r = await api.client.put(
            f"/api/grids/{grid}/org-unit", json={"org_unit_id": ids[f"dist_{x}"]}, headers=admin
        )
        assert r.status_code == 200, r.text
    return ids


async def scope(api: Api, username: str, unit_id: int | None) -> None:
    r = await api.client.put(
        f"{UNITS}/users/{api.world.users[username]}",
        json={"org_unit_id": unit_id},
        headers=await api.login("admin"),
    )
    assert r.status_code == 204, r.text


async def customer_numbers(api: Api, username: str) -> list[str]:
    r = await api.client.get("/api/customers", headers=await api.login(username))
    assert r.status_code == 200, r.text
    return sorted(c["number"] for c in r.json()["items"])


async def test_a_city_supervisor_sees_every_grid_below_the_city_and_404_outside(api: Api) -> None:
    ids = await two_cities(api)
    assert await customer_numbers(api, "sup") == ["C001", "C002"]  # no unit: everything
    await scope(api, "sup", ids["city_a"])
    sup = await api.login("sup")
    me = (await api.client.get("/api/me", headers=sup)).json()
    assert (me["org_unit_id"], me["grid_ids"]) == (ids["city_a"], [api.world.grid1])
    assert await customer_numbers(api, "sup") == ["C001"]
    own = await api.client.get(f"/api/customers/{api.world.alice}", headers=sup)
    assert own.status_code == 200
    for path in (
        f"/api/customers/{api.world.bob}",
        f"/api/meters/{api.world.bob_meter}",
        f"/api/accounts/{api.world.bob_account}",
        f"/api/key-accounts/customers/{api.world.bob}",
    ):
        assert (await api.client.get(path, headers=sup)).status_code == 404, path
    grids = (await api.client.get("/api/grids", headers=sup)).json()
    assert [g["id"] for g in grids] == [api.world.grid1]
    portfolio = (await api.client.get("/api/key-accounts/portfolio", headers=sup)).json()
    assert [i["customer_id"] for i in portfolio["items"]] == [api.world.alice]


async def test_a_province_supervisor_sees_both_cities(api: Api) -> None:
    ids = await two_cities(api)
    await scope(api, "sup", ids["prov"])
    assert await customer_numbers(api, "sup") == ["C001", "C002"]
    await scope(api, "sup", ids["dist_b"])
    assert await customer_numbers(api, "sup") == ["C002"]
    await scope(api, "sup", None)
    assert await customer_numbers(api, "sup") == ["C001", "C002"]


async def test_an_inspector_keeps_seeing_only_their_own_grids(api: Api) -> None:
    await two_cities(api)
    assert await customer_numbers(api, "insp1") == ["C001"]
    r = await api.client.get(f"/api/customers/{api.world.bob}", headers=await api.login("insp1"))
    assert r.status_code == 404


async def test_a_supervisor_scoped_to_a_unit_without_grids_sees_nobody(api: Api) -> None:
    admin = await api.login("admin")
    prov = await unit(api, admin, level="province", code="P9", name="空省")
    await scope(api, "sup", prov)
    assert await customer_numbers(api, "sup") == []


async def test_units_are_checked_level_by_level_and_codes_are_unique(api: Api) -> None:
    admin = await api.login("admin")
    prov = await unit(api, admin, level="province", code="P1", name="某省")
    bad = [
        ({"level": "city", "code": "X1", "name": "x"}, 400, "parent_id"),
        ({"level": "district", "code": "X2", "name": "x", "parent_id": prov}, 400, "parent_id"),
        ({"level": "province", "code": "X3", "name": "x", "parent_id": prov}, 400, "parent_id"),
        ({"level": "city", "code": "X4", "name": "x", "parent_id": 999999}, 404, "parent_id"),
        ({"level": "county", "code": "X5", "name": "x"}, 400, None),
        ({"level": "province", "code": "has space", "name": "x"}, 400, None),
    ]
    for body, status, field in bad:
        r = await api.client.post(UNITS, json=body, headers=admin)
        assert r.status_code == status, (body, r.text)
        if field:
            assert r.json()["field"] == field
    p2 = {"level": "province", "code": "P2", "name": "y"}
    twice = await asyncio.gather(
        *(api.client.post(UNITS, json=p2, headers=admin) for _ in range(2))
    )
    assert sorted(r.status_code for r in twice) == [201, 409]
    r = await api.client.put(
        f"/api/grids/{api.world.grid1}/org-unit", json={"org_unit_id": prov}, headers=admin
    )
    assert (r.status_code, r.json()["params"]["reason"]) == (400, "not_district")
    listed = (await api.client.get(UNITS, headers=await api.login("sup"))).json()
    assert sorted(u["code"] for u in listed) == ["P1", "P2"]


async def test_only_an_admin_creates_units_and_scopes_users(api: Api) -> None:
    sup = await api.login("sup")
    body = {"level": "province", "code": "P1", "name": "某省"}
    assert (await api.client.post(UNITS, json=body, headers=sup)).status_code == 403
    r = await api.client.put(
        f"{UNITS}/users/{api.world.users['sup']}", json={"org_unit_id": None}, headers=sup
    )
    assert r.status_code == 403
    r = await api.client.put(
        f"{UNITS}/users/{api.world.users['alice']}",
        json={"org_unit_id": None},
        headers=await api.login("admin"),
    )
    assert r.status_code == 404
