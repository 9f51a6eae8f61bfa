"""The prepaid API: balance, ledger, top-ups with idempotency keys, notices, supply, and the
operators' arrears list, disconnect queue and payment-to-restore times."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import and_, event, exists, func, or_, select, update

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.commands.lifecycle import State
from backend.commands.models import Command
from backend.db import session_factory
from backend.metering.models import Meter, MeterStatus
from backend.prepaid import engine as prepaid
from backend.prepaid import ledger
from backend.prepaid.models import (
    Channel,
    Charge,
    EntryKind,
    LedgerEntry,
    Notice,
    NoticeChannel,
    NoticeKind,
    NoticeStatus,
    TopUp,
    TopUpStatus,
    WarningEpisode,
)
from backend.prepaid.policy import explain
from backend.types import utcnow
from protocols.contract import CommandKind, RelayState
from tests.integration.api.conftest import Api
from tests.integration.prepaid.conftest import post, set_relay
from tests.support.statements import counted

OFF, ON, READY = (int(RelayState.DISCONNECTED), int(RelayState.CONNECTED),
                  int(RelayState.READY_FOR_RECONNECTION))  # fmt: skip


async def charge(api: Api, account: int, fen: int, covering: timedelta) -> None:
    """A consumption charge for the metered interval that ends now."""
    end = int(utcnow().timestamp() * 1000)
    async with session_factory(api.engine)() as s:
        entry = await ledger.post(
            s, account, EntryKind.CONSUMPTION_CHARGE, fen, actor="billing", memo="test"
        )
        s.add(
            Charge(
                account_id=account, meter_pk=api.world.alice_meter,
                start_ms=end - int(covering.total_seconds() * 1000), end_ms=end, wh=1,
                exact_cny=f"{-fen / 100:.2f}", lines="[]", entry_id=entry.id,
            )
        )  # fmt: skip
        await s.commit()


def key(n: int) -> dict[str, str]:
    return {"Idempotency-Key": f"pay-{n:08d}"}


async def test_customer_sees_balance_and_days_of_credit_left(quiet_api: Api) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    await post(api.engine, acc, EntryKind.TOP_UP, 10_000)
    await charge(api, acc, -3_000, timedelta(days=30))  # ¥30 metered over 30 days
    r = await api.client.get(f"/api/accounts/{acc}/balance", headers=await api.login("alice"))
    assert r.status_code == 200
    body = r.json()
    assert body["balance_fen"] == 7_000
    assert body["average_daily_spend_fen"] == 100
    assert body["days_left"] == 70.0
    assert body["low"] is False
    assert body["in_arrears"] is False


async def test_a_signed_in_customers_balance_is_one_database_statement(quiet_api: Api) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    await post(api.engine, acc, EntryKind.TOP_UP, 10_000)
    await charge(api, acc, -3_000, timedelta(days=30))
    alice = await api.login("alice")
    first = await api.client.get(f"/api/accounts/{acc}/balance", headers=alice)  # caller cached
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    app_engine = api.client.app.state.engine
    event.listen(app_engine.sync_engine, "before_cursor_execute", count)
    try:
        again = await api.client.get(f"/api/accounts/{acc}/balance", headers=alice)
    finally:
        event.remove(app_engine.sync_engine, "before_cursor_execute", count)
    assert first.status_code == again.status_code == 200
    assert len(statements) == 1, statements
    body = again.json()
    assert (body["balance_fen"], body["average_daily_spend_fen"], body["days_left"]) == (
        7_000, 100, 70.0,
    )  # fmt: skip


async def test_customer_cannot_read_another_customers_balance_ledger_notices_or_supply(
    quiet_api: Api,
) -> None:
    bob = await quiet_api.login("bob")
    acc = quiet_api.world.alice_account
    for what in ("balance", "ledger", "notices", "supply"):
        r = await quiet_api.client.get(f"/api/accounts/{acc}/{what}", headers=bob)
        assert r.status_code == 404, what


async def test_customer_cannot_top_up_another_customers_account(quiet_api: Api) -> None:
    r = await quiet_api.client.post(
        f"/api/accounts/{quiet_api.world.alice_account}/topups",
        json={"amount_fen": 100}, headers={**await quiet_api.login("bob"), **key(1)},
    )  # fmt: skip
    assert r.status_code == 404


async def test_ledger_is_paged_newest_first_with_the_balance_after_each_entry(
    quiet_api: Api,
) -> None:
    acc = quiet_api.world.alice_account
    for fen in (1_000, 2_000, 3_000):
        await post(quiet_api.engine, acc, EntryKind.TOP_UP, fen)
    r = await quiet_api.client.get(
        f"/api/accounts/{acc}/ledger?limit=2", headers=await quiet_api.login("alice")
    )
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 3
    assert [(e["amount_fen"], e["balance_after_fen"]) for e in page["items"]] == [
        (3_000, 6_000), (2_000, 3_000),
    ]  # fmt: skip


async def test_top_up_with_the_same_key_and_body_answers_the_same_receipt_and_pays_once(
    quiet_api: Api,
) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    headers = {**await api.login("op"), **key(2)}  # the counter takes cash: staff enter it
    body = {"amount_fen": 5_000, "channel": "counter"}
    first = await api.client.post(f"/api/accounts/{acc}/topups", json=body, headers=headers)
    second = await api.client.post(f"/api/accounts/{acc}/topups", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.content == second.content
    assert first.headers["idempotent-replayed"] == "false"
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["balance_after_fen"] == 5_000
    ledger = await api.client.get(f"/api/accounts/{acc}/ledger", headers=headers)
    (entry,) = ledger.json()["items"]
    assert (entry["memo_code"], entry["memo_params"]["channel"]) == ("memo.top_up", "counter")
    async with session_factory(api.engine)() as s:
        n = await s.scalar(
            select(func.count()).where(
                LedgerEntry.account_id == acc, LedgerEntry.kind == EntryKind.TOP_UP
            )
        )
    assert n == 1


async def test_top_up_with_the_same_key_and_another_body_is_422(quiet_api: Api) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    headers = {**await api.login("op"), **key(3)}
    url = f"/api/accounts/{acc}/topups"
    cash = {"channel": "counter"}
    assert (
        await api.client.post(url, json={"amount_fen": 100, **cash}, headers=headers)
    ).is_success
    r = await api.client.post(url, json={"amount_fen": 200, **cash}, headers=headers)
    assert r.status_code == 422
    assert "different top-up" in r.json()["detail"]
    assert r.json()["code"] == "error.idempotency_key_reused"


async def test_top_up_while_the_first_request_with_the_key_still_runs_is_409(
    quiet_api: Api,
) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    body = {"amount_fen": 100, "channel": "counter"}
    from backend.prepaid import topups

    async with session_factory(api.engine)() as s:
        s.add(
            TopUp(
                customer_id=api.world.alice, account_id=acc, idempotency_key="pay-00000004",
                request_hash=topups.request_hash(acc, topups.TopUpIn(100, Channel.COUNTER)),
                status=TopUpStatus.IN_PROGRESS, channel=Channel.COUNTER, amount_fen=100,
                actor="op", started_at=utcnow(),
            )
        )  # fmt: skip
        await s.commit()
    r = await api.client.post(
        f"/api/accounts/{acc}/topups", json=body, headers={**await api.login("op"), **key(4)}
    )
    assert r.status_code == 409
    assert "still being processed" in r.json()["detail"]
    assert r.json()["code"] == "error.payment_in_progress"


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        ({}, {"amount_fen": 100}, "idempotency"),
        ({"Idempotency-Key": "short"}, {"amount_fen": 100}, "idempotency"),
        (key(5), {"amount_fen": 0}, "amount_fen"),
        (key(5), {"amount_fen": 100, "balance_fen": 1}, "balance_fen"),
        (key(5), {"amount_fen": 100, "channel": "cash"}, "channel"),
    ],
)
async def test_a_bad_top_up_is_refused_naming_what_is_wrong(
    quiet_api: Api, headers: dict[str, str], body: dict[str, object], field: str
) -> None:
    r = await quiet_api.client.post(
        f"/api/accounts/{quiet_api.world.alice_account}/topups", json=body,
        headers={**await quiet_api.login("alice"), **headers},
    )  # fmt: skip
    assert r.status_code == 400
    assert field in r.text.lower()


async def test_an_operator_cannot_enter_online_money_by_hand(quiet_api: Api) -> None:
    r = await quiet_api.client.post(
        f"/api/accounts/{quiet_api.world.alice_account}/topups",
        json={"amount_fen": 2_000, "channel": "wechat"},
        headers={**await quiet_api.login("op"), **key(8)},
    )
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "channel"


async def test_an_operator_records_a_counter_payment(quiet_api: Api) -> None:
    r = await quiet_api.client.post(
        f"/api/accounts/{quiet_api.world.alice_account}/topups",
        json={"amount_fen": 2_000, "channel": "counter"},
        headers={**await quiet_api.login("op"), **key(6)},
    )
    assert r.status_code == 201
    assert r.json()["channel"] == "counter"


async def test_supply_off_for_arrears_says_how_much_to_pay_and_a_top_up_starts_the_restore(
    quiet_api: Api,
) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    await set_relay(api.engine, api.world.alice_meter, OFF, mode=2)
    await post(api.engine, acc, EntryKind.ADJUSTMENT, -1_234)
    alice = await api.login("alice")
    off = (await api.client.get(f"/api/accounts/{acc}/supply", headers=alice)).json()
    assert (off["supply"], off["action"], off["amount_to_restore_fen"]) == (
        "disconnected", "top_up", 1_234,
    )  # fmt: skip
    paid = await api.client.post(
        f"/api/accounts/{acc}/topups", json={"amount_fen": 1_234, "channel": "counter"},
        headers={**await api.login("op"), **key(7)},
    )  # fmt: skip
    assert paid.status_code == 201
    wait = (await api.client.get(f"/api/accounts/{acc}/supply", headers=alice)).json()
    assert wait["action"] == "wait"
    assert wait["meters"][0]["pending_command"]["kind"] == "reconnect"


async def test_supply_is_unknown_not_connected_while_a_meter_has_not_read_back_its_relay(
    quiet_api: Api,
) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    await set_relay(api.engine, api.world.alice_meter, ON)
    async with session_factory(api.engine)() as s:  # a second meter, never read back
        await s.execute(
            update(Meter)
            .where(Meter.id == api.world.bob_meter)
            .values(account_id=acc, relay_state=None)
        )
        await s.commit()
    r = await api.client.get(f"/api/accounts/{acc}/supply", headers=await api.login("alice"))
    body = r.json()
    assert body["supply"] == "unknown"
    assert sorted(m["supply"] for m in body["meters"]) == ["connected", "unknown"]
    assert "on" not in body["message"].lower().split()


async def test_supply_of_an_armed_meter_says_press_the_button(quiet_api: Api) -> None:
    await set_relay(quiet_api.engine, quiet_api.world.alice_meter, READY, mode=1)
    r = await quiet_api.client.get(
        f"/api/accounts/{quiet_api.world.alice_account}/supply",
        headers=await quiet_api.login("alice"),
    )
    assert (r.json()["supply"], r.json()["action"]) == ("ready_to_reconnect", "press_button")


async def test_notices_of_the_sweep_are_listed_for_the_customer(quiet_api: Api) -> None:
    api, acc = quiet_api, quiet_api.world.alice_account
    await set_relay(api.engine, api.world.alice_meter, ON)
    await post(api.engine, acc, EntryKind.ADJUSTMENT, -500)
    async with session_factory(api.engine)() as s:
        await prepaid.sweep(s, api.settings, utcnow())
        await s.commit()
    r = await api.client.get(f"/api/accounts/{acc}/notices", headers=await api.login("alice"))
    kinds = {(n["kind"], n["channel"]) for n in r.json()["items"]}
    assert kinds == {
        ("low_balance", "sms"), ("low_balance", "app"),
        ("disconnect_warning", "sms"), ("disconnect_warning", "app"),
    }  # fmt: skip


async def test_arrears_list_the_most_owed_first_and_inspectors_only_their_grid(
    quiet_api: Api,
) -> None:
    api = quiet_api
    await post(api.engine, api.world.alice_account, EntryKind.ADJUSTMENT, -700)
    op = (await api.client.get("/api/prepaid/arrears", headers=await api.login("op"))).json()
    assert [(i["account_id"], i["balance_fen"]) for i in op["items"]] == [
        (api.world.alice_account, -700)
    ]
    insp2 = await api.client.get("/api/prepaid/arrears", headers=await api.login("insp2"))
    assert insp2.json()["total"] == 0
    customer = await api.client.get("/api/prepaid/arrears", headers=await api.login("alice"))
    assert customer.status_code == 403


async def test_disconnect_queue_explains_every_rule_for_each_account(quiet_api: Api) -> None:
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, ON)
    await post(api.engine, api.world.alice_account, EntryKind.ADJUSTMENT, -700)
    r = await api.client.get("/api/prepaid/disconnect-queue", headers=await api.login("op"))
    assert r.status_code == 200
    (item,) = r.json()["items"]
    rules = {x["rule"]: x["ok"] for x in item["policy"]["reasons"]}
    assert rules["arrears"] is True
    assert rules["warning"] is False  # nobody was warned yet
    assert item["policy"]["due"] is False
    assert (await api.client.get("/api/prepaid/disconnect-queue",
                                 headers=await api.login("insp1"))).status_code == 403  # fmt: skip


async def test_restore_times_report_payment_to_supply_per_command_and_in_summary(
    quiet_api: Api,
) -> None:
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, OFF)
    paid = utcnow() - timedelta(minutes=10)
    async with session_factory(api.engine)() as s:
        await post(api.engine, api.world.alice_account, EntryKind.TOP_UP, 100)
        (c,) = await prepaid.after_payment(s, api.settings, api.world.alice_account, paid)
        c.state, c.restored_at = State.VERIFIED, paid + timedelta(seconds=90)
        await s.commit()
    r = await api.client.get("/api/prepaid/restore-times", headers=await api.login("sup"))
    body = r.json()
    assert (body["total"], body["restored"], body["median_s"]) == (1, 1, 90.0)
    assert body["items"][0]["kind"] == CommandKind.RECONNECT.value
    async with session_factory(api.engine)() as s:
        assert await s.scalar(select(func.count()).select_from(Command)) == 1


async def test_disconnect_queue_explains_a_page_in_as_many_statements_as_one_account(
    quiet_api: Api,
) -> None:
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, ON)
    accounts = [api.world.alice_account]
    async with session_factory(api.engine)() as s:
        for n, relay in enumerate((ON, None, OFF, ON), 3):  # OFF: supply off, not queued
            c = Customer(number=f"C90{n}", name=f"Q{n}", category=CustomerCategory.RESIDENTIAL,
                         protected=n == 6)  # fmt: skip
            s.add(c)
            await s.flush()
            a = Account(number=f"A90{n}", customer_id=c.id, kind=AccountKind.PREPAID,
                        credit_limit_fen=100 * n)  # fmt: skip
            s.add(a)
            await s.flush()
            s.add(Meter(meter_id=f"M-Q{n}", customer_id=c.id, account_id=a.id,
                        status=MeterStatus.ACTIVE, relay_state=relay))  # fmt: skip
            accounts.append(a.id)
        warned = accounts[1]
        s.add(WarningEpisode(account_id=warned, episode=1, open=True, opened_at=utcnow()))
        for at, channel in ((utcnow() - timedelta(hours=30), NoticeChannel.SMS),
                            (utcnow() - timedelta(hours=2), NoticeChannel.APP)):  # fmt: skip
            s.add(Notice(account_id=warned, episode=1, kind=NoticeKind.DISCONNECT_WARNING,
                         channel=channel, text="t", balance_fen=-5_000,
                         status=NoticeStatus.DELIVERED, delivered_at=at))  # fmt: skip
        await s.commit()
    for n, acc in enumerate(accounts):
        await post(api.engine, acc, EntryKind.ADJUSTMENT, -5_000 - n)
    op = await api.login("op")
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    app_engine = api.client.app.state.engine
    assert (await api.client.get("/api/me", headers=op)).status_code == 200  # caller cached
    event.listen(app_engine.sync_engine, "before_cursor_execute", count)
    try:
        one = await api.client.get("/api/prepaid/disconnect-queue?limit=1", headers=op)
        single = len(statements)
        statements.clear()
        page = await api.client.get("/api/prepaid/disconnect-queue?limit=50", headers=op)
        many = len(statements)
    finally:
        event.remove(app_engine.sync_engine, "before_cursor_execute", count)
    assert one.status_code == page.status_code == 200
    assert many == single > 0
    items = page.json()["items"]
    assert page.json()["total"] == 4
    assert [i["account_id"] for i in items] == [accounts[4], accounts[2], accounts[1], accounts[0]]
    assert items[:1] == one.json()["items"]
    # each account explained exactly as the engine explains it alone
    async with session_factory(api.engine)() as s:
        for item in items:
            account = await s.get(Account, item["account_id"])
            assert account is not None
            facts = await prepaid.facts_of(s, account)
            assert item["policy"]["due"] == explain(facts, utcnow(), prepaid.policy_config(
                api.settings)).due  # fmt: skip
            assert [r["rule"] for r in item["policy"]["reasons"] if r["ok"]] == [
                r.rule for r in explain(facts, utcnow(), prepaid.policy_config(api.settings))
                .reasons if r.ok
            ]  # fmt: skip


async def test_arrears_and_queue_totals_count_accounts_from_the_accounts_alone(
    quiet_api: Api,
) -> None:
    """The totals come from the accounts (and, for the queue, the meters' supply index): the
    joins that only add the customer's and the episode's columns are left out of the count,
    which at 200,000 accounts took most of each answer. An account with two meters and an open
    episode still counts once."""
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, ON)
    async with session_factory(api.engine)() as s:
        alice = await s.get(Account, api.world.alice_account)
        assert alice is not None
        s.add(Meter(meter_id="M-ALICE-2", customer_id=alice.customer_id, account_id=alice.id,
                    status=MeterStatus.ACTIVE, relay_state=ON))  # fmt: skip
        s.add(WarningEpisode(account_id=alice.id, episode=1, open=True, opened_at=utcnow()))
        await s.commit()
    await post(api.engine, api.world.alice_account, EntryKind.ADJUSTMENT, -700)
    op = await api.login("op")
    assert (await api.client.get("/api/me", headers=op)).status_code == 200  # caller cached
    app_engine = api.client.app.state.engine
    with counted(app_engine) as statements:
        arrears = await api.client.get("/api/prepaid/arrears", headers=op)
        queue = await api.client.get("/api/prepaid/disconnect-queue", headers=op)
    assert arrears.json()["total"] == queue.json()["total"] == 1
    assert [i["account_id"] for i in arrears.json()["items"]] == [api.world.alice_account]
    assert [i["account_id"] for i in queue.json()["items"]] == [api.world.alice_account]
    counts = [s for s in statements if s.startswith("SELECT count(")]
    assert len(counts) == 2
    assert not [s for s in counts if re.search(r"\b(customers|warning_episodes)\b", s)], counts


async def test_arrears_and_the_queue_list_and_count_what_the_joined_statements_did(
    quiet_api: Api,
) -> None:
    """The counts now read the accounts alone: every page and total equals the joined
    statements they replaced, a negative credit limit (threshold above zero), relays off and a
    customer's second account included."""
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, ON)
    accounts = [api.world.alice_account]
    async with session_factory(api.engine)() as s:
        for n in range(12):
            c = Customer(number=f"C95{n:02d}", name=f"E{n}", category=CustomerCategory.RESIDENTIAL)
            s.add(c)
            await s.flush()
            for k in range(1 + n % 2):  # every second customer has two accounts
                a = Account(number=f"A95{n:02d}{k}", customer_id=c.id, kind=AccountKind.PREPAID,
                            credit_limit_fen=(-300 if n == 5 else 200 * (n % 3)))  # fmt: skip
                s.add(a)
                await s.flush()
                relay = OFF if n == 7 else ON
                s.add(Meter(meter_id=f"M-E{n}{k}", customer_id=c.id, account_id=a.id,
                            status=MeterStatus.ACTIVE, relay_state=relay))  # fmt: skip
                accounts.append(a.id)
            if n % 4 == 0:
                s.add(WarningEpisode(account_id=a.id, episode=1, open=True, opened_at=utcnow()))
        await s.commit()
    for n, acc in enumerate(accounts):
        await post(api.engine, acc, EntryKind.ADJUSTMENT, [-700, -100, 100, -5_000][n % 4] - n)
    await post(api.engine, accounts[8], EntryKind.ADJUSTMENT, 800)  # limit -300: balance 92
    on = exists().where(
        Meter.account_id == Account.id, Meter.status == MeterStatus.ACTIVE,
        or_(Meter.relay_state.is_(None), Meter.relay_state != OFF),
    )  # fmt: skip
    old_arrears = (
        select(Account.id)
        .join(Customer, Customer.id == Account.customer_id)
        .outerjoin(
            WarningEpisode,
            and_(WarningEpisode.account_id == Account.id, WarningEpisode.open.is_(True)),
        )
        .where(Account.kind == AccountKind.PREPAID, Account.balance_fen < 0)
        .order_by(Account.balance_fen, Account.id)
    )
    old_queue = (
        select(Account.id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(
            Account.kind == AccountKind.PREPAID, Account.balance_fen < -Account.credit_limit_fen, on
        )
        .order_by(Account.balance_fen, Account.id)
    )
    op = await api.login("op")
    async with session_factory(api.engine)() as s:
        for path, old in (("arrears", old_arrears), ("disconnect-queue", old_queue)):
            want = list(await s.scalars(old))
            assert len(want) >= 8, path
            total = await s.scalar(select(func.count()).select_from(old.subquery()))
            got: list[int] = []
            for offset in range(0, len(want) + 3, 3):
                r = await api.client.get(f"/api/prepaid/{path}?limit=3&offset={offset}",
                                         headers=op)  # fmt: skip
                assert r.status_code == 200, r.text
                assert r.json()["total"] == total, path
                got += [i["account_id"] for i in r.json()["items"]]
            assert got == want, path
    assert accounts[8] in want  # the negative limit's account: above zero, below its threshold
