"""迁出/迁入 over the API: the old account's final reading and bill, its credit moved to the
new address's new account as a pair of entries (or refunded), the old account closed and the
customer's address changed, the old one kept in the change."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from backend.accounts.models import Account, Customer
from backend.db import session_factory
from backend.metering.models import Meter
from backend.prepaid import ledger
from backend.prepaid.models import EntryKind, LedgerEntry
from tests.integration.api.conftest import Api
from tests.integration.expansion.changes.conftest import pin_clock, read_hours


async def _top_up(api: Api, account: int, fen: int, key: str) -> None:
    headers = {**await api.login("op"), "Idempotency-Key": key}
    r = await api.client.post(
        f"/api/accounts/{account}/topups", json={"amount_fen": fen, "channel": "counter"},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text


async def _move(api: Api, key: str, settlement: str) -> dict[str, object]:
    headers = {**await api.login("alice"), "Idempotency-Key": key}
    body = {"kind": "move", "account_id": api.world.alice_account,
            "address": "杭州市西湖区文三路 8 号 2 单元 301", "settlement": settlement}  # fmt: skip
    r = await api.client.post("/api/lifecycle/changes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    again = await api.client.post("/api/lifecycle/changes", json=body, headers=headers)
    assert (again.status_code, again.json()["id"]) == (200, r.json()["id"])
    r = await api.client.post(
        f"/api/lifecycle/changes/{r.json()['id']}/approve", headers=await api.login("op")
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_moving_out_bills_the_final_reading_and_moves_the_credit_to_the_new_account(
    life_api: Api,
) -> None:
    api = life_api
    meter, account = api.world.alice_meter, api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    async with session_factory(api.engine)() as s:
        customer = await s.get(Customer, api.world.alice)
        assert customer is not None
        old_address = customer.address
    await _top_up(api, account, 5_000, "topup-move-001")
    # 4 kWh at 0.4883 = 1.9532 -> 195 fen billed; the meter reads 104 kWh at the move
    await read_hours(api, meter, (2026, 3, 1, 8), 4)
    done = await _move(api, "move-transfer-1", "transfer")
    after = done["after"]
    assert isinstance(after, dict)
    assert (after["settled_fen"], after["final_reading_wh"], after["meters"]) == (
        5_000 - 195, 104_000, 1,
    )  # fmt: skip
    assert done["before"] == {"address": old_address}
    new = after["new_account_id"]
    assert isinstance(new, int)
    async with session_factory(api.engine)() as s:
        old = await s.get(Account, account)
        opened = await s.get(Account, new)
        assert old is not None
        assert opened is not None
        assert old.closed_at is not None
        assert opened.closed_at is None
        assert opened.customer_id == api.world.alice  # the same customer
        assert (old.balance_fen, opened.balance_fen) == (0, 4_805)
        assert await ledger.ledger_sum(s, account) == 0
        assert await ledger.ledger_sum(s, new) == 4_805
        pair = (
            await s.scalars(
                select(LedgerEntry).where(
                    LedgerEntry.kind == EntryKind.ADJUSTMENT,
                    LedgerEntry.account_id.in_((account, new)),
                ).order_by(LedgerEntry.id)
            )
        ).all()  # fmt: skip
        assert [(e.account_id, e.amount_fen, e.memo_code) for e in pair] == [
            (account, -4_805, "memo.balance_transfer_out"),
            (new, 4_805, "memo.balance_transfer_in"),
        ]
        m = await s.get(Meter, meter)
        assert m is not None
        assert m.status.value == "removed"
        customer = await s.get(Customer, api.world.alice)
        assert customer is not None
        assert customer.address == "杭州市西湖区文三路 8 号 2 单元 301"
    # she sees her new account; the old one takes no more money
    alice = await api.login("alice")
    assert (await api.client.get(f"/api/accounts/{new}", headers=alice)).status_code == 200
    mine = (await api.client.get("/api/lifecycle/changes", headers=alice)).json()
    assert [(c["kind"], c["account_id"]) for c in mine["items"]] == [("move", account)]
    r = await api.client.post(
        f"/api/accounts/{account}/topups", json={"amount_fen": 100, "channel": "counter"},
        headers={**await api.login("op"), "Idempotency-Key": "topup-move-002"},
    )  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (409, "error.account_closed")


async def test_moving_out_may_refund_the_credit_and_another_customers_account_is_404(
    life_api: Api,
) -> None:
    api = life_api
    account = api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    bob = {**await api.login("bob"), "Idempotency-Key": "move-bob-0001"}
    body = {"kind": "move", "account_id": account, "address": "somewhere"}
    r = await api.client.post("/api/lifecycle/changes", json=body, headers=bob)
    assert (r.status_code, r.json()["code"]) == (404, "error.account_not_found")
    await _top_up(api, account, 3_000, "topup-move-003")
    done = await _move(api, "move-refund-01", "refund")
    after = done["after"]
    assert isinstance(after, dict)
    assert (after["settled_fen"], after["transfer_to_account_id"]) == (3_000, None)
    async with session_factory(api.engine)() as s:
        refund = await s.scalar(
            select(LedgerEntry).where(
                LedgerEntry.account_id == account, LedgerEntry.kind == EntryKind.REFUND
            )
        )
        assert refund is not None
        assert (refund.amount_fen, refund.memo_code) == (-3_000, "memo.move_refund")
        opened = await s.get(Account, after["new_account_id"])
        assert opened is not None
        assert opened.balance_fen == 0


async def test_two_operators_approving_one_move_at_once_open_one_new_account(
    life_api: Api,
) -> None:
    api = life_api
    account = api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    await _top_up(api, account, 1_000, "topup-move-004")
    headers = {**await api.login("alice"), "Idempotency-Key": "move-race-0001"}
    body = {"kind": "move", "account_id": account, "address": "新地址 1 号"}
    r = await api.client.post("/api/lifecycle/changes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    url = f"/api/lifecycle/changes/{r.json()['id']}/approve"
    op = await api.login("op")
    answers = await asyncio.gather(*(api.client.post(url, headers=op) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 409]
    async with session_factory(api.engine)() as s:
        opened = (
            await s.scalars(select(Account).where(Account.customer_id == api.world.alice))
        ).all()
        assert sorted((a.closed_at is None, a.balance_fen) for a in opened) == [
            (False, 0), (True, 1_000),
        ]  # fmt: skip
