"""销户 over the API: the final bill from the readings that arrived, the credit refunded (a
REFUND entry) or moved to another account of the customer (a pair of entries), the meter
marked removed, the account closed — and a closed account takes no money."""

from __future__ import annotations

from sqlalchemy import select

from backend.accounts.models import Account, AccountKind
from backend.db import session_factory
from backend.metering.models import Meter
from backend.prepaid import ledger
from backend.prepaid.models import EntryKind, LedgerEntry
from tests.integration.api.conftest import Api
from tests.integration.expansion.changes.conftest import books, pin_clock, read_hours


async def _top_up(api: Api, account: int, fen: int, key: str) -> int:
    headers = {**await api.login("op"), "Idempotency-Key": key}
    r = await api.client.post(
        f"/api/accounts/{account}/topups", json={"amount_fen": fen, "channel": "counter"},
        headers=headers,
    )  # fmt: skip
    return r.status_code


async def _close(api: Api, key: str, **extra: object) -> dict[str, object]:
    headers = {**await api.login("alice"), "Idempotency-Key": key}
    body = {"kind": "closure", "account_id": api.world.alice_account, **extra}
    r = await api.client.post("/api/lifecycle/changes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _approve(api: Api, change: dict[str, object]) -> object:
    return await api.client.post(
        f"/api/lifecycle/changes/{change['id']}/approve", headers=await api.login("op")
    )


async def test_closure_bills_the_last_readings_refunds_the_credit_and_removes_the_meter(
    life_api: Api,
) -> None:
    api = life_api
    meter, account = api.world.alice_meter, api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    assert await _top_up(api, account, 10_000, "topup-close-01") == 201
    await read_hours(api, meter, (2026, 3, 1, 8), 4)  # 4 kWh at 0.4883 = 1.9532 → 195 fen
    change = await _close(api, "close-refund-01")
    assert change["effective_from"] == "2026-03-02"
    r = await _approve(api, change)
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    done = r.json()  # type: ignore[attr-defined]
    assert done["status"] == "applied"
    assert done["after"]["settlement"] == "refund"
    assert done["after"]["settled_fen"] == 10_000 - 195
    assert done["after"]["meter_id"] == "M-ALICE"
    assert done["after"]["final_reading_wh"] == 104_000

    async with session_factory(api.engine)() as s:
        refund = await s.scalar(
            select(LedgerEntry).where(
                LedgerEntry.account_id == account, LedgerEntry.kind == EntryKind.REFUND
            )
        )
        assert refund is not None
        assert refund.amount_fen == -(10_000 - 195)
        assert refund.memo_code == "memo.closure_refund"
        assert await ledger.ledger_sum(s, account) == 0
        row = await s.get(Account, account)
        assert row is not None
        assert row.balance_fen == 0
        assert row.closed_at is not None
        m = await s.get(Meter, meter)
        assert m is not None
        assert m.status.value == "removed"
        assert m.removed_at is not None
    assert (await books(api, account)).ledger_fen == 0

    # closed: no top-up at the counter, no payment order, no second closure
    assert await _top_up(api, account, 100, "topup-close-02") == 409
    headers = {**await api.login("alice"), "Idempotency-Key": "pay-closed-0001"}
    r = await api.client.post(
        f"/api/accounts/{account}/payment-orders", json={"amount_fen": 100}, headers=headers
    )
    assert (r.status_code, r.json()["code"]) == (409, "error.account_closed")
    headers = {**await api.login("alice"), "Idempotency-Key": "close-again-001"}
    body = {"kind": "closure", "account_id": account}
    r = await api.client.post("/api/lifecycle/changes", json=body, headers=headers)
    assert (r.status_code, r.json()["code"]) == (409, "error.account_closed")
    got = await api.client.get(f"/api/accounts/{account}", headers=await api.login("alice"))
    assert got.json()["closed_at"] is not None


async def test_an_account_in_arrears_is_not_closed_and_the_change_stays_waiting(
    life_api: Api,
) -> None:
    api = life_api
    meter, account = api.world.alice_meter, api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    await read_hours(api, meter, (2026, 3, 1, 8), 4)
    change = await _close(api, "close-arrears-1")
    r = await _approve(api, change)
    assert r.status_code == 409  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["code"] == "error.account_in_arrears"
    assert body["params"]["balance_fen"] == -195
    still = await api.client.get(
        f"/api/lifecycle/changes/{change['id']}", headers=await api.login("op")
    )
    assert still.json()["status"] == "requested"
    async with session_factory(api.engine)() as s:
        row = await s.get(Account, account)
        assert row is not None
        assert row.closed_at is None
        m = await s.get(Meter, meter)
        assert m is not None
        assert m.status.value == "active"
    # paid up, the same change goes through
    assert await _top_up(api, account, 195, "topup-arrears-1") == 201
    assert (await _approve(api, change)).status_code == 200  # type: ignore[attr-defined]


async def test_a_closing_credit_moves_to_another_account_of_the_customer_as_a_pair_of_entries(
    life_api: Api,
) -> None:
    api = life_api
    account = api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    async with session_factory(api.engine)() as s:
        other = Account(number="A003", customer_id=api.world.alice, kind=AccountKind.PREPAID)
        s.add(other)
        await s.commit()
        other_id = other.id
    assert await _top_up(api, account, 5_000, "topup-move-001") == 201
    # not to bob's account: only to the customer's own
    headers = {**await api.login("alice"), "Idempotency-Key": "close-move-bad1"}
    bad = {"kind": "closure", "account_id": account, "settlement": "transfer",
           "transfer_to_account_id": api.world.bob_account}  # fmt: skip
    r = await api.client.post("/api/lifecycle/changes", json=bad, headers=headers)
    assert (r.status_code, r.json()["field"]) == (400, "transfer_to_account_id")
    change = await _close(
        api, "close-move-0001", settlement="transfer", transfer_to_account_id=other_id
    )
    assert (await _approve(api, change)).status_code == 200  # type: ignore[attr-defined]
    async with session_factory(api.engine)() as s:
        assert await ledger.ledger_sum(s, account) == 0
        assert await ledger.ledger_sum(s, other_id) == 5_000
        moved = (
            await s.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.kind == EntryKind.ADJUSTMENT)
                .order_by(LedgerEntry.id)
            )
        ).all()
        assert [(e.account_id, e.amount_fen, e.memo_code) for e in moved] == [
            (account, -5_000, "memo.balance_transfer_out"),
            (other_id, 5_000, "memo.balance_transfer_in"),
        ]
