"""更名, 增容/减容, 暂停/恢复 over the API: each a change an operator approves, the capacity
charge of a two-part tariff following the contracted kVA by days, checked to the fen."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from backend.accounts.models import Customer
from backend.db import session_factory
from backend.expansion.changes.models import AccountChange
from backend.tariffs.loader import parse_tariffs
from backend.tariffs.service import store_tariffs
from tests.integration.api.conftest import Api
from tests.integration.expansion.changes.conftest import pin_clock

CI = """
[[tariff]]
code = "CI-2P-LIFE"
name = "工商业 两部制"
category = "commercial"
schedule = "ci-two-part-life"
effective_from = 2026-01-01
[tariff.basic_charge]
per = "kva"
price = 23.3
[tariff.periods]
flat = ["00:00-24:00"]
[tariff.prices]
flat = 0.6000
"""


async def _two_part(api: Api, kva: int = 315) -> int:
    """Bob's account on a two-part tariff (23.3 CNY per kVA a month) with ``kva`` contracted."""
    async with session_factory(api.engine)() as s:
        await store_tariffs(s, parse_tariffs(CI))
        await s.commit()
    op = await api.login("op")
    account = api.world.bob_account
    r = await api.client.post(
        f"/api/accounts/{account}/tariff-assignments",
        json={"schedule": "ci-two-part-life", "effective_from": "2026-01-01"}, headers=op,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await api.client.put(
        f"/api/accounts/{account}/tariff-terms", json={"capacity_kva": kva}, headers=op
    )
    assert r.status_code == 200, r.text
    return account


async def _ask(api: Api, user: str, key: str, body: dict[str, object]) -> dict[str, object]:
    headers = {**await api.login(user), "Idempotency-Key": key}
    r = await api.client.post("/api/lifecycle/changes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _approve(api: Api, change: dict[str, object]) -> dict[str, object]:
    r = await api.client.post(
        f"/api/lifecycle/changes/{change['id']}/approve", headers=await api.login("op")
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _capacity_lines(api: Api, account: int, month: str) -> list[tuple[str, int, int]]:
    r = await api.client.get(
        f"/api/accounts/{account}/bills/{month}", headers=await api.login("bob")
    )
    assert r.status_code == 200, r.text
    return [
        (ln["code"], ln["params"]["kva"], ln["amount_fen"])
        for ln in r.json()["lines"]
        if ln["code"].startswith("bill.basic")
    ]


async def test_a_capacity_increase_mid_month_charges_each_capacity_by_its_days(
    life_api: Api,
) -> None:
    api = life_api
    account = await _two_part(api)
    pin_clock(api, 2026, 3, 5)
    change = await _ask(api, "bob", "cap-up-000001", {
        "kind": "capacity", "account_id": account, "capacity_kva": 400,
        "effective_from": "2026-03-11",
    })  # fmt: skip
    assert (change["before"], change["after"]) == ({"capacity_kva": 315}, {"capacity_kva": 400})
    # waiting: the month is still 315 kVA whole, 315 x 23.3 = 7,339.50
    assert await _capacity_lines(api, account, "2026-03") == [("bill.basic.capacity", 315, 733_950)]
    done = await _approve(api, change)
    assert done["status"] == "applied"
    # 1-10 March: 315 x 23.3 x 10 / 31 = 2,367.580645… -> 2,367.58
    # 11-31 March: 400 x 23.3 x 21 / 31 = 6,313.548387…; total 269,115 / 31 = 8,681.129… ->
    # 8,681.13, so the second line is 868,113 - 236,758 = 631,355 fen
    assert await _capacity_lines(api, account, "2026-03") == [
        ("bill.basic.capacity_days", 315, 236_758),
        ("bill.basic.capacity_days", 400, 631_355),
    ]
    # February before it, April after it: whole months at their own capacity
    assert await _capacity_lines(api, account, "2026-02") == [("bill.basic.capacity", 315, 733_950)]
    assert await _capacity_lines(api, account, "2026-04") == [("bill.basic.capacity", 400, 932_000)]
    # the same capacity again, or a day not after the last change: refused, the field named
    op = {**await api.login("op"), "Idempotency-Key": "cap-same-0001"}
    same = {"kind": "capacity", "account_id": account, "capacity_kva": 400,
            "effective_from": "2026-03-20"}  # fmt: skip
    r = await api.client.post("/api/lifecycle/changes", json=same, headers=op)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        422, "error.change_same", "capacity_kva"
    )  # fmt: skip
    earlier = {**same, "capacity_kva": 200, "effective_from": "2026-03-11"}
    r = await api.client.post(
        "/api/lifecycle/changes", json=earlier, headers={**op, "Idempotency-Key": "cap-old-0001"}
    )
    assert (r.status_code, r.json()["code"]) == (422, "error.change_before_last")


async def test_a_suspension_stops_the_capacity_charge_and_a_resumption_restarts_it(
    life_api: Api,
) -> None:
    api = life_api
    account = await _two_part(api)
    pin_clock(api, 2026, 4, 2)
    suspension = await _ask(api, "bob", "susp-0000001", {
        "kind": "suspension", "account_id": account, "effective_from": "2026-04-06",
        "until": "2026-05-06",
    })  # fmt: skip
    await _approve(api, suspension)
    # April: 5 days charged (1-5), the 25 others suspended: 7,339.50 x 5 / 30 = 1,223.25
    assert await _capacity_lines(api, account, "2026-04") == [
        ("bill.basic.capacity_days", 315, 122_325)
    ]
    # May: 1-5 suspended, 26 days charged: 7,339.50 x 26 / 31 = 6,155.709… -> 6,155.71
    assert await _capacity_lines(api, account, "2026-05") == [
        ("bill.basic.capacity_days", 315, 615_571)
    ]
    # a resumption before the 15th day of the suspension is refused
    pin_clock(api, 2026, 4, 15)
    op = {**await api.login("op"), "Idempotency-Key": "resume-early1"}
    early = {"kind": "resumption", "account_id": account, "effective_from": "2026-04-20"}
    r = await api.client.post("/api/lifecycle/changes", json=early, headers=op)
    assert (r.status_code, r.json()["code"]) == (422, "error.not_suspended")
    resumption = await _ask(api, "bob", "resume-00001", {
        "kind": "resumption", "account_id": account, "effective_from": "2026-04-21",
    })  # fmt: skip
    done = await _approve(api, resumption)
    assert done["after"] == {"suspension_id": suspension["id"]}
    # April: 1-5 and 21-30 charged, 15 days suspended: 7,339.50 x 15 / 30 = 3,669.75;
    # lines 1,223.25 then 3,669.75 - 1,223.25 = 2,446.50
    assert await _capacity_lines(api, account, "2026-04") == [
        ("bill.basic.capacity_days", 315, 122_325),
        ("bill.basic.capacity_days", 315, 244_650),
    ]
    assert await _capacity_lines(api, account, "2026-05") == [("bill.basic.capacity", 315, 733_950)]


async def test_a_suspension_outside_the_published_limits_or_without_capacity_is_refused(
    life_api: Api,
) -> None:
    api = life_api
    pin_clock(api, 2026, 4, 2)
    op = await api.login("op")
    body = {"kind": "suspension", "account_id": api.world.bob_account,
            "effective_from": "2026-04-06", "until": "2026-05-06"}  # fmt: skip
    r = await api.client.post(
        "/api/lifecycle/changes", json=body, headers={**op, "Idempotency-Key": "susp-nocap1"}
    )
    assert (r.status_code, r.json()["code"]) == (422, "error.no_capacity")
    account = await _two_part(api)
    for key, until, days in (
        ("susp-short01", "2026-04-20", 14),
        ("susp-long001", "2026-10-04", 181),
    ):
        r = await api.client.post(
            "/api/lifecycle/changes", json={**body, "account_id": account, "until": until},
            headers={**op, "Idempotency-Key": key},
        )  # fmt: skip
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            422, "error.suspension_length", "until"
        )  # fmt: skip
        assert r.json()["params"]["days"] == days


async def test_the_same_suspension_twice_and_at_once_is_one_change_and_another_account_is_404(
    life_api: Api,
) -> None:
    api = life_api
    account = await _two_part(api)
    pin_clock(api, 2026, 4, 2)
    headers = {**await api.login("bob"), "Idempotency-Key": "susp-twice01"}
    body = {"kind": "suspension", "account_id": account, "effective_from": "2026-04-06",
            "until": "2026-05-06"}  # fmt: skip
    answers = await asyncio.gather(
        *(api.client.post("/api/lifecycle/changes", json=body, headers=headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    again = await api.client.post("/api/lifecycle/changes", json=body, headers=headers)
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    async with session_factory(api.engine)() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(AccountChange)
            .where(AccountChange.kind == "suspension")
        )
        assert n == 1
    # Alice asking for Bob's account: 404, as if it did not exist
    alice = {**await api.login("alice"), "Idempotency-Key": "susp-alice01"}
    r = await api.client.post("/api/lifecycle/changes", json=body, headers=alice)
    assert (r.status_code, r.json()["code"]) == (404, "error.account_not_found")


async def test_a_name_change_renames_the_same_holder_and_keeps_the_old_name(
    life_api: Api,
) -> None:
    api = life_api
    pin_clock(api, 2026, 3, 2)
    account = api.world.alice_account
    change = await _ask(api, "alice", "name-0000001", {
        "kind": "name", "account_id": account, "holder_name": "Alice Wang",
        "id_document": "330102199001011234", "effective_from": "2026-03-02",
    })  # fmt: skip
    done = await _approve(api, change)
    assert (done["before"], done["after"]) == (
        {"holder_name": "Alice"},
        {"holder_name": "Alice Wang", "id_document": "330102199001011234"},
    )
    async with session_factory(api.engine)() as s:
        holder = await s.get(Customer, api.world.alice)
        assert holder is not None
        assert holder.name == "Alice Wang"  # the same customer: no change of ownership
    # she still sees her account, and the change in her history
    r = await api.client.get(f"/api/accounts/{account}", headers=await api.login("alice"))
    assert r.status_code == 200
    r = await api.client.get(
        f"/api/lifecycle/changes?account_id={account}", headers=await api.login("alice")
    )
    assert [c["kind"] for c in r.json()["items"]] == ["name"]
    headers = {**await api.login("alice"), "Idempotency-Key": "name-0000002"}
    same = {"kind": "name", "account_id": account, "holder_name": "Alice Wang",
            "id_document": "X1", "effective_from": "2026-03-02"}  # fmt: skip
    r = await api.client.post("/api/lifecycle/changes", json=same, headers=headers)
    assert (r.status_code, r.json()["code"]) == (422, "error.change_same")
