"""Every object is scoped to the caller: another customer's things are 404, roles are enforced."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import Api


async def test_customer_cannot_read_another_customers_meter(api: Api) -> None:
    alice = await api.login("alice")
    own = await api.client.get(f"/api/meters/{api.world.alice_meter}", headers=alice)
    assert own.status_code == 200
    assert own.json()["meter_id"] == "M-ALICE"
    other = await api.client.get(f"/api/meters/{api.world.bob_meter}", headers=alice)
    assert other.status_code == 404


async def test_customer_cannot_read_another_customers_readings_or_consumption(api: Api) -> None:
    alice = await api.login("alice")
    m = api.world.bob_meter
    for path in (
        f"/api/meters/{m}/readings",
        f"/api/meters/{m}/consumption/daily?from=2026-01-01&to=2026-01-31",
        f"/api/meters/{m}/consumption/monthly?from=2026-01&to=2026-02",
        f"/api/meters/{m}/consumption/intervals?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
        f"/api/customers/{api.world.bob}",
        f"/api/customers/{api.world.bob}/consumption/daily?from=2026-01-01&to=2026-01-31",
        f"/api/accounts/{api.world.bob_account}",
        f"/api/accounts/{api.world.bob_account}/consumption/monthly?from=2026-01&to=2026-01",
    ):
        r = await api.client.get(path, headers=alice)
        assert r.status_code == 404, path


async def test_customer_cannot_read_another_customers_balance(api: Api) -> None:
    bob = await api.login("bob")
    r = await api.client.get(f"/api/accounts/{api.world.alice_account}", headers=bob)
    assert r.status_code == 404
    own = await api.client.get(f"/api/accounts/{api.world.bob_account}", headers=bob)
    assert own.status_code == 200
    assert own.json()["balance_fen"] == 0


async def test_missing_and_foreign_objects_answer_alike(api: Api) -> None:
    alice = await api.login("alice")
    foreign = await api.client.get(f"/api/meters/{api.world.bob_meter}", headers=alice)
    missing = await api.client.get("/api/meters/999999", headers=alice)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json().keys() == missing.json().keys()


async def test_customer_lists_only_their_own_meters(api: Api) -> None:
    r = await api.client.get("/api/meters", headers=await api.login("alice"))
    assert r.status_code == 200
    assert [m["meter_id"] for m in r.json()["items"]] == ["M-ALICE"]
    assert r.json()["total"] == 1


async def test_customer_sees_their_own_customer_record(api: Api) -> None:
    r = await api.client.get(f"/api/customers/{api.world.alice}", headers=await api.login("alice"))
    assert r.status_code == 200
    assert r.json()["customer"]["number"] == "C001"
    assert [a["number"] for a in r.json()["accounts"]] == ["A001"]
    assert [m["meter_id"] for m in r.json()["meters"]] == ["M-ALICE"]


@pytest.mark.parametrize(
    "path",
    ["/api/customers", "/api/agents", "/api/meters/pending", "/api/meters/offline",
     "/api/anomalies", "/api/collection-rate?from=2026-01-01&to=2026-01-01"],
)  # fmt: skip
async def test_customer_cannot_use_staff_lists(api: Api, path: str) -> None:
    r = await api.client.get(path, headers=await api.login("alice"))
    assert r.status_code == 403


async def test_inspector_lists_only_customers_of_their_grid(api: Api) -> None:
    r = await api.client.get("/api/customers", headers=await api.login("insp1"))
    assert r.status_code == 200
    assert [c["number"] for c in r.json()["items"]] == ["C001"]


async def test_inspector_outside_their_grid_gets_404(api: Api) -> None:
    insp1 = await api.login("insp1")
    assert (
        await api.client.get(f"/api/customers/{api.world.bob}", headers=insp1)
    ).status_code == 404
    assert (
        await api.client.get(f"/api/meters/{api.world.bob_meter}", headers=insp1)
    ).status_code == 404
    assert (
        await api.client.get(f"/api/meters/{api.world.alice_meter}", headers=insp1)
    ).status_code == 200


async def test_inspector_cannot_see_unregistered_meters(api: Api) -> None:
    insp1 = await api.login("insp1")
    r = await api.client.get(f"/api/meters/{api.world.pending_meter}", headers=insp1)
    assert r.status_code == 404
    assert (await api.client.get("/api/meters/pending", headers=insp1)).status_code == 403


@pytest.mark.parametrize("user", ["op", "sup", "admin"])
async def test_back_office_sees_every_customer(api: Api, user: str) -> None:
    r = await api.client.get("/api/customers", headers=await api.login(user))
    assert r.status_code == 200
    assert [c["number"] for c in r.json()["items"]] == ["C001", "C002"]


async def test_inspector_lists_only_the_grids_they_own(api: Api) -> None:
    r = await api.client.get("/api/grids", headers=await api.login("insp2"))
    assert r.status_code == 200
    assert [(g["code"], [a["code"] for a in g["transformer_areas"]]) for g in r.json()] == [
        ("G2", ["TA2"])
    ]
    everything = await api.client.get("/api/grids", headers=await api.login("op"))
    assert [g["code"] for g in everything.json()] == ["G1", "G2"]
    assert (await api.client.get("/api/grids", headers=await api.login("bob"))).status_code == 403
