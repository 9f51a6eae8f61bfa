"""改类 over the API: a customer asks, an operator approves, and billing follows the change
exactly — intervals before its local midnight on the old category's tariff, after it on the
new one — re-rating what was billed already, so the ledger equals the hand-computed bill."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import func, select

from backend.accounts.models import Customer
from backend.db import session_factory
from backend.expansion.changes.models import AccountChange
from backend.servicedesk.orders.models import WorkOrder
from backend.tariffs.rating import round_fen
from tests.integration.api.conftest import Api
from tests.integration.expansion.changes.conftest import KWH, books, pin_clock, read_hours

RES = Decimal("0.4883")  # RES-2026, tier 1
COM = Decimal("0.6473")  # COM-2026, flat at every hour


def _category(api: Api, day: str = "2026-03-01", category: str = "commercial") -> dict[str, object]:
    return {"kind": "category", "account_id": api.world.alice_account, "category": category,
            "effective_from": day}  # fmt: skip


async def _request(api: Api, key: str, body: dict[str, object], who: str = "alice") -> object:
    headers = {**await api.login(who), "Idempotency-Key": key}
    return await api.client.post("/api/lifecycle/changes", json=body, headers=headers)


async def test_a_past_dated_category_change_splits_the_charge_at_its_midnight_to_the_fen(
    life_api: Api,
) -> None:
    api = life_api
    meter, account = api.world.alice_meter, api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    # 20:00 on 28 Feb to 04:00 on 1 Mar, 1 kWh an hour, billed as residential
    await read_hours(api, meter, (2026, 2, 28, 20), 8)
    assert (await books(api, account)).ledger_fen == -round_fen(8 * RES) == -391

    r = await _request(api, "cat-change-0001", _category(api))
    assert r.status_code == 201, r.text
    change = r.json()
    assert (change["kind"], change["status"]) == ("category", "requested")
    assert change["before"] == {"category": "residential"}
    assert change["after"] == {"category": "commercial"}
    # nothing changes until an operator approves
    assert (await books(api, account)).reversed == 0

    r = await api.client.post(
        f"/api/lifecycle/changes/{change['id']}/approve", headers=await api.login("op")
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "applied"

    # hand-computed: 4 kWh before midnight at 0.4883 = 1.9532, 4 kWh after at 0.6473 = 2.5892
    b = await books(api, account)
    assert b.exact == 4 * RES + 4 * COM == Decimal("4.5424")
    # the 8 hours were billed in one round's entry: the re-rating reverses that entry whole
    # (its 8 charges withdrawn) and posts the 4 unchanged ones again with the 4 re-rated
    assert (b.wh, b.reversed, b.ledger_fen) == (8 * KWH, 8, -454)

    # readings after the change are billed on the new category: 2 kWh more at 0.6473
    await read_hours(api, meter, (2026, 3, 1, 5), 1, from_kwh=109)
    b = await books(api, account)
    assert b.exact == 4 * RES + 6 * COM == Decimal("5.8370")
    assert b.ledger_fen == -round_fen(b.exact) == -584

    async with session_factory(api.engine)() as s:
        customer = await s.get(Customer, api.world.alice)
        assert customer is not None
        assert customer.category.value == "commercial"
        order = await s.get(WorkOrder, change["order_id"])
        assert order is not None
        assert (order.kind.value, order.status.value, order.result) == (
            "category_change",
            "closed",
            "change.applied",
        )


async def test_the_same_request_twice_and_twice_at_once_make_one_change_and_one_order(
    life_api: Api,
) -> None:
    api = life_api
    pin_clock(api, 2026, 3, 2)
    first, second = await asyncio.gather(
        _request(api, "cat-twice-0001", _category(api)),
        _request(api, "cat-twice-0001", _category(api)),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 201]  # type: ignore[attr-defined]
    again = await _request(api, "cat-twice-0001", _category(api))
    assert again.status_code == 200  # type: ignore[attr-defined]
    assert again.headers["Idempotent-Replayed"] == "true"  # type: ignore[attr-defined]
    other = await _request(api, "cat-twice-0001", _category(api, day="2026-02-01"))
    assert other.status_code == 422  # type: ignore[attr-defined]
    assert other.json()["code"] == "error.change_key_reused"  # type: ignore[attr-defined]
    # another key while one is waiting: one open change of a kind per account
    pending = await _request(api, "cat-twice-0002", _category(api))
    assert pending.status_code == 409  # type: ignore[attr-defined]
    assert pending.json()["code"] == "error.change_pending"  # type: ignore[attr-defined]
    async with session_factory(api.engine)() as s:
        assert await s.scalar(select(func.count()).select_from(AccountChange)) == 1
        assert await s.scalar(select(func.count()).select_from(WorkOrder)) == 1


async def test_a_customer_cannot_request_or_see_a_change_of_another_customers_account(
    life_api: Api,
) -> None:
    api = life_api
    pin_clock(api, 2026, 3, 2)
    r = await _request(api, "cat-other-0001", _category(api), who="bob")
    assert r.status_code == 404  # type: ignore[attr-defined]
    assert r.json()["code"] == "error.account_not_found"  # type: ignore[attr-defined]
    mine = await _request(api, "cat-mine-0001", _category(api))
    change_id = mine.json()["id"]  # type: ignore[attr-defined]
    bob = await api.login("bob")
    r2 = await api.client.get(f"/api/lifecycle/changes/{change_id}", headers=bob)
    assert r2.status_code == 404
    assert (await api.client.get("/api/lifecycle/changes", headers=bob)).json()["total"] == 0
    # a customer does not approve, not even their own change
    r3 = await api.client.post(
        f"/api/lifecycle/changes/{change_id}/approve", headers=await api.login("alice")
    )
    assert r3.status_code == 403


async def test_two_operators_approving_at_once_apply_the_change_once(life_api: Api) -> None:
    api = life_api
    meter, account = api.world.alice_meter, api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    await read_hours(api, meter, (2026, 2, 28, 20), 8)
    change = (await _request(api, "cat-race-0001", _category(api))).json()  # type: ignore[attr-defined]
    url = f"/api/lifecycle/changes/{change['id']}/approve"
    op, sup = await api.login("op"), await api.login("sup")
    a, b = await asyncio.gather(api.client.post(url, headers=op), api.client.post(url, headers=sup))
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    loser = a if a.status_code == 409 else b
    assert loser.json()["code"] == "error.change_decided"
    books_ = await books(api, account)
    assert (books_.reversed, books_.ledger_fen) == (8, -454)  # one round's entry, reversed whole


async def test_a_change_dated_after_today_to_the_same_category_or_not_after_the_last_is_refused(
    life_api: Api,
) -> None:
    api = life_api
    pin_clock(api, 2026, 3, 2)
    r = await _request(api, "cat-future-001", _category(api, day="2026-03-03"))
    assert (r.status_code, r.json()["code"]) == (422, "error.change_in_future")  # type: ignore[attr-defined]
    r = await _request(api, "cat-same-0001", _category(api, category="residential"))
    assert (r.status_code, r.json()["code"]) == (422, "error.change_no_effect")  # type: ignore[attr-defined]
    r = await _request(api, "cat-bad-00001", {**_category(api), "category": "nuclear"})
    assert r.status_code == 400  # type: ignore[attr-defined]
    ok = (await _request(api, "cat-ok-000001", _category(api))).json()  # type: ignore[attr-defined]
    op = await api.login("op")
    assert (await api.client.post(f"/api/lifecycle/changes/{ok['id']}/approve",
                                  headers=op)).status_code == 200  # fmt: skip
    back = await _request(api, "cat-back-00001", _category(api, day="2026-02-15",
                                                           category="residential"))  # fmt: skip
    assert (back.status_code, back.json()["code"]) == (422, "error.change_before_last")  # type: ignore[attr-defined]


async def test_an_operator_rejects_a_change_with_a_reason_and_the_account_stays_as_it_was(
    life_api: Api,
) -> None:
    api = life_api
    pin_clock(api, 2026, 3, 2)
    change = (await _request(api, "cat-reject-001", _category(api))).json()  # type: ignore[attr-defined]
    op = await api.login("op")
    url = f"/api/lifecycle/changes/{change['id']}"
    r = await api.client.post(f"{url}/reject", json={"reason": "证件不全"}, headers=op)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason"]) == ("rejected", "证件不全")
    r = await api.client.post(f"{url}/approve", headers=op)
    assert (r.status_code, r.json()["code"]) == (409, "error.change_decided")
    async with session_factory(api.engine)() as s:
        customer = await s.get(Customer, api.world.alice)
        assert customer is not None
        assert customer.category.value == "residential"
