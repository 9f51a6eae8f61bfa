"""过户 over the API: the account and its meter pass to a new holder, the old holder's credit
carried with the account or refunded to them, the old holder losing sight of the account and
the history kept in the change's before and after."""

from __future__ import annotations

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


async def _ownership(api: Api, key: str, settlement: str) -> dict[str, object]:
    headers = {**await api.login("alice"), "Idempotency-Key": key}
    body = {"kind": "ownership", "account_id": api.world.alice_account, "holder_name": "张三",
            "holder_phone": "13900001234", "effective_from": "2026-03-02",
            "settlement": settlement}  # fmt: skip
    r = await api.client.post("/api/lifecycle/changes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    change = r.json()
    assert change["before"]["holder_name"] == "Alice"
    r = await api.client.post(
        f"/api/lifecycle/changes/{change['id']}/approve", headers=await api.login("op")
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_transfer_of_ownership_carries_the_credit_to_the_new_holder_with_the_meter(
    life_api: Api,
) -> None:
    api = life_api
    meter, account = api.world.alice_meter, api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    await _top_up(api, account, 5_000, "topup-own-0001")
    await read_hours(api, meter, (2026, 3, 1, 8), 4)  # 195 fen billed to Alice
    done = await _ownership(api, "own-carry-0001", "carry")
    assert (done["after"]["settled_fen"], done["after"]["carried_fen"]) == (0, 5_000 - 195)
    async with session_factory(api.engine)() as s:
        row = await s.get(Account, account)
        assert row is not None
        holder = await s.get(Customer, row.customer_id)
        assert holder is not None
        assert (holder.name, holder.phone) == ("张三", "13900001234")
        assert holder.id != api.world.alice
        assert row.balance_fen == 5_000 - 195
        m = await s.get(Meter, meter)
        assert m is not None
        assert (m.account_id, m.customer_id, m.status.value) == (account, holder.id, "active")
        old = await s.get(Customer, api.world.alice)
        assert old is not None
        assert old.name == "Alice"  # the old holder's record is kept, not overwritten
    # the old holder no longer sees the account
    r = await api.client.get(f"/api/accounts/{account}", headers=await api.login("alice"))
    assert r.status_code == 404


async def test_a_transfer_of_ownership_may_refund_the_old_holders_credit(life_api: Api) -> None:
    api = life_api
    account = api.world.alice_account
    pin_clock(api, 2026, 3, 2)
    await _top_up(api, account, 3_000, "topup-own-0002")
    done = await _ownership(api, "own-refund-001", "refund")
    assert done["after"]["settled_fen"] == 3_000
    async with session_factory(api.engine)() as s:
        refund = await s.scalar(
            select(LedgerEntry).where(
                LedgerEntry.account_id == account, LedgerEntry.kind == EntryKind.REFUND
            )
        )
        assert refund is not None
        assert (refund.amount_fen, refund.memo_code) == (-3_000, "memo.ownership_refund")
        assert await ledger.ledger_sum(s, account) == 0
