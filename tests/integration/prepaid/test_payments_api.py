"""Online payments over HTTP, on SQLite and PostgreSQL: a customer's request only makes an
order; the provider's signed notification alone credits it, once; forged, replayed,
mismatched and unknown notifications are refused and counted; the statement is reconciled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.app import create_app
from backend.db import session_factory
from backend.prepaid.models import EntryKind, LedgerEntry, PaymentOrder
from backend.prepaid.payments import service
from backend.prepaid.payments.providers import StatementLine
from backend.prepaid.payments.providers.simulated import SimulatedWallet, trade_bill
from backend.settings import load_settings
from backend.types import utcnow
from protocols.contract import RelayState
from tests.integration.api.conftest import Api
from tests.integration.prepaid.conftest import post, set_relay
from tests.support.world import build_world

NOTIFY = "/api/payments/notify/simulated"


@pytest.fixture
async def pay_api(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Api]:
    world = await build_world(engine)
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        payments_provider="simulated", auth_require_totp=False,
    )  # fmt: skip
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, world, settings, engine)


def wallet(api: Api) -> SimulatedWallet:
    return service.wallet(api.settings)


async def balance(api: Api, account: int) -> int:
    r = await api.client.get(f"/api/accounts/{account}/balance", headers=await api.login("op"))
    return int(r.json()["balance_fen"])


async def top_up_entries(api: Api, account: int) -> int:
    async with session_factory(api.engine)() as s:
        n = await s.scalar(
            select(func.count()).where(
                LedgerEntry.account_id == account, LedgerEntry.kind == EntryKind.TOP_UP
            )
        )
    return int(n or 0)


async def order(api: Api, fen: int, key: str = "intent-0001", user: str = "alice") -> Any:
    acc = api.world.alice_account
    r = await api.client.post(
        f"/api/accounts/{acc}/payment-orders", json={"amount_fen": fen, "channel": "wechat"},
        headers={**await api.login(user), "Idempotency-Key": key},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()


def signed(api: Api, order_no: str, fen: int, txn: str = "4200000000000001") -> Any:
    now = utcnow()
    return wallet(api).notification(
        order_no=order_no, amount_fen=fen, paid_at=now, transaction_id=txn, now=now
    )


async def notify(api: Api, headers: dict[str, str], body: bytes) -> Any:
    return await api.client.post(
        NOTIFY, content=body, headers={**headers, "content-type": "application/json"}
    )


async def counts(api: Api) -> dict[str, Any]:
    r = await api.client.get("/api/payments/notifications", headers=await api.login("op"))
    assert r.status_code == 200
    body = r.json()
    body["by_reason"] = {x["reason"]: x["count"] for x in body["rejections"]}
    return dict(body)


async def test_the_issues_attack_a_customer_crediting_themselves_100000_yuan_fails(
    pay_api: Api,
) -> None:
    api, acc = pay_api, pay_api.world.alice_account
    alice = await api.login("alice")
    for channel in ("wechat", "alipay", "app", "counter", "bank"):
        r = await api.client.post(
            f"/api/accounts/{acc}/topups", json={"amount_fen": 10_000_000, "channel": channel},
            headers={**alice, "Idempotency-Key": f"attack-{channel}"},
        )  # fmt: skip
        assert r.status_code == 403, (channel, r.text)
    assert await balance(api, acc) == 0
    assert await top_up_entries(api, acc) == 0


async def test_an_online_payment_creates_a_pending_order_and_credits_nothing(
    pay_api: Api,
) -> None:
    created = await order(pay_api, 5_000)
    assert created["status"] == "pending"
    assert created["provider"] == "simulated"
    assert created["order_no"].startswith("ML")
    assert await balance(pay_api, pay_api.world.alice_account) == 0


async def test_a_double_tap_with_one_key_makes_one_order(pay_api: Api) -> None:
    api, acc = pay_api, pay_api.world.alice_account
    headers = {**await api.login("alice"), "Idempotency-Key": "intent-double"}
    body = {"amount_fen": 5_000, "channel": "app"}
    url = f"/api/accounts/{acc}/payment-orders"
    first, second = await asyncio.gather(
        api.client.post(url, json=body, headers=headers),
        api.client.post(url, json=body, headers=headers),
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["order_no"] == second.json()["order_no"]
    replayed = sorted(x.headers["idempotent-replayed"] for x in (first, second))
    assert replayed == ["false", "true"]
    other = await api.client.post(url, json={**body, "amount_fen": 6_000}, headers=headers)
    assert other.status_code == 422
    async with session_factory(api.engine)() as s:
        assert await s.scalar(select(func.count()).select_from(PaymentOrder)) == 1


async def test_the_providers_signed_notification_credits_the_order_once_however_often_it_comes(
    pay_api: Api,
) -> None:
    api, acc = pay_api, pay_api.world.alice_account
    created = await order(api, 5_000)
    first = signed(api, created["order_no"], 5_000)
    r = await notify(api, *first)
    assert r.status_code == 200
    assert r.json() == {"code": "SUCCESS", "message": "成功"}
    # the provider sends it again, freshly signed, many times and at once: acknowledged, no money
    again = [signed(api, created["order_no"], 5_000) for _ in range(10)]
    answers = await asyncio.gather(*(notify(api, h, b) for h, b in again))
    assert {a.status_code for a in answers} == {200}
    assert await balance(api, acc) == 5_000
    assert await top_up_entries(api, acc) == 1
    seen = await api.client.get(
        f"/api/accounts/{acc}/payment-orders/{created['order_no']}",
        headers=await api.login("alice"),
    )
    assert seen.json()["status"] == "paid"
    assert seen.json()["balance_after_fen"] == 5_000
    assert seen.json()["receipt_number"].startswith("R")
    c = await counts(api)
    assert (c["credited"], c["duplicate"], c["rejected"]) == (1, 10, 0)


async def test_a_confirmed_payment_starts_the_restore_of_a_disconnected_meter(
    pay_api: Api,
) -> None:
    api, acc = pay_api, pay_api.world.alice_account
    await set_relay(api.engine, api.world.alice_meter, int(RelayState.DISCONNECTED), mode=2)
    await post(api.engine, acc, EntryKind.ADJUSTMENT, -1_234)
    created = await order(api, 1_234)
    alice = await api.login("alice")
    before = (await api.client.get(f"/api/accounts/{acc}/supply", headers=alice)).json()
    assert before["action"] == "top_up"  # the order alone restores nothing
    assert (await notify(api, *signed(api, created["order_no"], 1_234))).status_code == 200
    after = (await api.client.get(f"/api/accounts/{acc}/supply", headers=alice)).json()
    assert after["action"] == "wait"
    assert after["meters"][0]["pending_command"]["kind"] == "reconnect"


async def test_a_replayed_notification_is_refused_and_counted(pay_api: Api) -> None:
    api = pay_api
    created = await order(api, 5_000)
    headers, body = signed(api, created["order_no"], 5_000)
    assert (await notify(api, headers, body)).status_code == 200
    replay = await notify(api, headers, body)  # the captured request, byte for byte
    assert replay.status_code == 400
    assert replay.json()["code"] == "FAIL"
    assert await top_up_entries(api, api.world.alice_account) == 1
    assert (await counts(api))["by_reason"] == {"replay": 1}


async def test_a_bad_signature_is_refused_and_counted(pay_api: Api) -> None:
    api = pay_api
    created = await order(api, 5_000)
    headers, body = signed(api, created["order_no"], 5_000)
    forged = body.replace(b'"summary":"', b'"summary":"x')
    r = await notify(api, headers, forged)
    assert r.status_code == 401
    r = await notify(api, {**headers, "Wechatpay-Signature": "AAAA"}, body)
    assert r.status_code == 401
    assert await balance(api, api.world.alice_account) == 0
    assert (await counts(api))["by_reason"] == {"bad_signature": 2}


async def test_an_amount_mismatch_is_refused_and_counted(pay_api: Api) -> None:
    api = pay_api
    created = await order(api, 5_000)
    r = await notify(api, *signed(api, created["order_no"], 1))  # the wallet paid ¥0.01
    assert r.status_code == 400
    assert await balance(api, api.world.alice_account) == 0
    assert (await counts(api))["by_reason"] == {"amount_mismatch": 1}


async def test_an_unknown_order_is_refused_and_counted(pay_api: Api) -> None:
    r = await notify(pay_api, *signed(pay_api, "ML20991231NOSUCHORDER", 5_000))
    assert r.status_code == 400
    assert (await counts(pay_api))["by_reason"] == {"unknown_order": 1}


async def test_an_order_expires_and_a_payment_after_expiry_is_refused(pay_api: Api) -> None:
    api, acc = pay_api, pay_api.world.alice_account
    created = await order(api, 5_000)
    async with session_factory(api.engine)() as s:
        await s.execute(update(PaymentOrder).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    seen = await api.client.get(
        f"/api/accounts/{acc}/payment-orders/{created['order_no']}",
        headers=await api.login("alice"),
    )
    assert seen.json()["status"] == "expired"
    r = await notify(api, *signed(api, created["order_no"], 5_000))
    assert r.status_code == 400
    assert await balance(api, acc) == 0
    assert (await counts(api))["by_reason"] == {"expired": 1}


async def test_orders_expire_after_the_configured_time(pay_api: Api) -> None:
    created = await order(pay_api, 5_000)
    from datetime import datetime

    made = datetime.fromisoformat(created["created_at"])
    expires = datetime.fromisoformat(created["expires_at"])
    assert expires - made == timedelta(minutes=pay_api.settings.payments_order_ttl_minutes)


async def test_a_customer_cannot_see_or_pay_another_customers_order(pay_api: Api) -> None:
    api, acc = pay_api, pay_api.world.alice_account
    created = await order(api, 5_000)
    bob = await api.login("bob")
    url = f"/api/accounts/{acc}/payment-orders/{created['order_no']}"
    assert (await api.client.get(url, headers=bob)).status_code == 404
    assert (await api.client.post(f"{url}/simulated-payment", headers=bob)).status_code == 404
    assert await balance(api, acc) == 0


async def test_the_simulated_wallet_pays_through_the_signed_notification_path(
    pay_api: Api,
) -> None:
    api, acc = pay_api, pay_api.world.alice_account
    created = await order(api, 2_500)
    alice = await api.login("alice")
    url = f"/api/accounts/{acc}/payment-orders/{created['order_no']}/simulated-payment"
    first = await api.client.post(url, headers=alice)
    second = await api.client.post(url, headers=alice)
    assert first.status_code == 200, first.text
    assert (first.json()["status"], second.json()["status"]) == ("paid", "paid")
    assert await balance(api, acc) == 2_500
    assert (await counts(api))["credited"] == 1


async def test_the_simulated_wallet_is_not_there_unless_configured(quiet_api: Api) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    r = await api.client.post(
        f"/api/accounts/{acc}/payment-orders/MLX000001/simulated-payment",
        headers=await api.login("alice"),
    )
    assert r.status_code == 404
    r = await api.client.post(
        f"/api/accounts/{acc}/payment-orders", json={"amount_fen": 100},
        headers={**await api.login("alice"), "Idempotency-Key": "intent-off-1"},
    )  # fmt: skip
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "channel"
    assert (await api.client.post(NOTIFY, content=b"{}")).status_code == 404


@pytest.mark.parametrize(
    "amount",
    ['"100"', '"1e3"', "1e3", "1000.0", "true", "null", "-5", "0", "10000001",
     "9223372036854775808"],
)  # fmt: skip
async def test_money_that_is_not_a_positive_integer_is_refused_naming_the_field(
    pay_api: Api, amount: str
) -> None:
    api, acc = pay_api, pay_api.world.alice_account
    json_type = {"content-type": "application/json"}
    r = await api.client.post(
        f"/api/accounts/{acc}/payment-orders", content=f'{{"amount_fen": {amount}}}',
        headers={**await api.login("alice"), **json_type, "Idempotency-Key": "intent-strict"},
    )  # fmt: skip
    assert r.status_code == 400, r.text
    assert any(e["key"] == "amount_fen" for e in r.json()["extra"])
    r = await api.client.post(
        f"/api/accounts/{acc}/topups",
        content=f'{{"amount_fen": {amount}, "channel": "counter"}}',
        headers={**await api.login("op"), **json_type, "Idempotency-Key": "counter-strict"},
    )  # fmt: skip
    assert r.status_code == 400, r.text
    assert any(e["key"] == "amount_fen" for e in r.json()["extra"])
    assert await balance(api, acc) == 0


async def test_reconciliation_lists_every_difference_with_the_ledger(pay_api: Api) -> None:
    api = pay_api
    a = await order(api, 5_000, key="intent-rec-a")
    b = await order(api, 3_000, key="intent-rec-b")
    c = await order(api, 1_000, key="intent-rec-c")
    for o, txn in ((a, "4200000000000011"), (b, "4200000000000012")):
        assert (await notify(api, *signed(api, o["order_no"], o["amount_fen"], txn))).is_success
    now = utcnow()
    statement = trade_bill(
        [
            StatementLine(a["order_no"], "4200000000000011", 5_000, now),  # agrees
            StatementLine(c["order_no"], "4200000000000013", 1_000, now),  # never notified
            StatementLine("ML-NOT-OURS", "4200000000000014", 700, now),  # unknown here
        ]
    )
    # b was credited here but the provider's statement does not have it
    r = await api.client.post(
        "/api/payments/reconcile?provider=simulated", content=statement.encode(),
        headers={**await api.login("op"), "content-type": "text/csv"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["matched"] == 1
    assert sorted((d["kind"], d["order_no"]) for d in rec["differences"]) == sorted(
        [
            ("missing_in_ledger", c["order_no"]),
            ("missing_in_ledger", "ML-NOT-OURS"),
            ("missing_at_provider", b["order_no"]),
        ]
    )
    wrong = statement.replace("`50.00", "`5.00")
    r = await api.client.post(
        "/api/payments/reconcile?provider=simulated", content=wrong.encode(),
        headers={**await api.login("op"), "content-type": "text/csv"},
    )  # fmt: skip
    diffs = {d["order_no"]: d for d in r.json()["differences"]}
    assert diffs[a["order_no"]]["kind"] == "amount_differs"
    assert (diffs[a["order_no"]]["statement_fen"], diffs[a["order_no"]]["ledger_fen"]) == (
        500, 5_000,
    )  # fmt: skip
    alice = await api.login("alice")
    denied = await api.client.post(
        "/api/payments/reconcile", content=statement.encode(), headers=alice
    )
    assert denied.status_code == 403
