"""Key accounts over HTTP: scoping, profiles with history, rules, alerts, visits, messages,
the segmentation run and the 360 (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from backend.accounts.models import Account, Customer
from backend.db import session_factory
from backend.metering.models import ConsumptionDaily
from backend.prepaid.models import (
    EntryKind,
    LedgerEntry,
    Notice,
    NoticeChannel,
    NoticeKind,
    NoticeStatus,
)
from backend.servicedesk.models import OutageKind, OutageNotice
from tests.integration.api.conftest import Api

KA = "/api/key-accounts"


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def consumption(api: Api, meter_pk: int, baseline_wh: int, recent_wh: int) -> None:
    """56 days at ``baseline_wh`` a day, then the last 7 days at ``recent_wh``."""
    t = today()
    async with session_factory(api.engine)() as s:
        for back in range(1, 64):
            day = t - timedelta(days=back)
            wh = recent_wh if back <= 7 else baseline_wh
            s.add(
                ConsumptionDaily(
                    meter_pk=meter_pk,
                    quantity="energy_import",
                    day=day,
                    wh=wh,
                    first_ts=0,
                    last_ts=0,
                    first_value=0,
                    last_value=0,
                    through_ts=0,
                    intervals=1,
                )
            )
        await s.commit()


async def codes(api: Api, user: str, customer_id: int) -> list[str]:
    r = await api.client.get(f"{KA}/portfolio", headers=await api.login(user))
    assert r.status_code == 200, r.text
    [item] = [i for i in r.json()["items"] if i["customer_id"] == customer_id]
    return [a["code"] for a in item["alerts"]]


# --- scoping -----------------------------------------------------------------------------------


async def test_a_manager_sees_only_their_portfolio(api: Api) -> None:
    insp1 = await api.login("insp1")
    r = await api.client.get(f"{KA}/portfolio", headers=insp1)
    assert r.status_code == 200
    assert [i["customer_id"] for i in r.json()["items"]] == [api.world.alice]
    own = await api.client.get(f"{KA}/customers/{api.world.alice}", headers=insp1)
    assert own.status_code == 200


async def test_a_manager_gets_404_for_another_managers_customer(api: Api) -> None:
    insp1 = await api.login("insp1")
    bob = api.world.bob
    for method, path, body in [
        ("GET", f"{KA}/customers/{bob}", None),
        ("GET", f"{KA}/customers/{bob}/profile", None),
        ("GET", f"{KA}/customers/{bob}/profile/history", None),
        ("PUT", f"{KA}/customers/{bob}/profile", {"version": 0, "households": 5000}),
        ("POST", f"{KA}/customers/{bob}/notes", {"text": "hello"}),
        (
            "POST",
            f"{KA}/visits",
            {
                "client_id": str(uuid.uuid4()),
                "customer_id": bob,
                "planned_for": "2026-12-10",
                "purpose": "visit",
            },
        ),
        ("GET", f"{KA}/customers/999999", None),
    ]:
        r = await api.client.request(method, path, json=body, headers=insp1)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["code"] == "error.customer_not_found"


async def test_customers_and_wrong_roles_are_refused(api: Api) -> None:
    alice = await api.login("alice")
    for path in (f"{KA}/portfolio", f"{KA}/customers/{api.world.alice}", f"{KA}/visits"):
        assert (await api.client.get(path, headers=alice)).status_code == 403, path
    insp1 = await api.login("insp1")
    r = await api.client.put(
        f"{KA}/customers/{api.world.alice}/manager",
        json={"manager_id": api.world.users["insp1"]},
        headers=insp1,
    )
    assert r.status_code == 403
    r = await api.client.post(f"{KA}/segmentation/recompute", headers=insp1)
    assert r.status_code == 403
    assert (await api.client.get(f"{KA}/my-manager", headers=insp1)).status_code == 403


async def test_a_key_account_named_to_a_manager_joins_their_portfolio(api: Api) -> None:
    sup, insp1 = await api.login("sup"), await api.login("insp1")
    r = await api.client.put(
        f"{KA}/customers/{api.world.bob}/manager",
        json={"manager_id": api.world.users["insp1"]},
        headers=sup,
    )
    assert r.status_code == 200, r.text
    assert (
        await api.client.get(f"{KA}/customers/{api.world.bob}", headers=insp1)
    ).status_code == 200
    # the grid's own manager keeps seeing them too
    insp2 = await api.login("insp2")
    assert (
        await api.client.get(f"{KA}/customers/{api.world.bob}", headers=insp2)
    ).status_code == 200
    # only an inspector can be a manager
    r = await api.client.put(
        f"{KA}/customers/{api.world.bob}/manager",
        json={"manager_id": api.world.users["op"]},
        headers=sup,
    )
    assert r.status_code == 404
    r = await api.client.get(f"{KA}/portfolio?manager_id={api.world.users['insp1']}", headers=sup)
    assert sorted(i["customer_id"] for i in r.json()["items"]) == sorted(
        [api.world.alice, api.world.bob]
    )


# --- profile, history, rules -------------------------------------------------------------------


async def test_a_profile_keeps_its_history_and_derives_the_class(api: Api) -> None:
    insp1 = await api.login("sup")  # the back office sets the type of body (org_type)
    path = f"{KA}/customers/{api.world.alice}/profile"
    first = {
        "version": 0,
        "org_type": "residential_community",
        "households": 1999,
        "voltage_level": "10kV",
        "industry_code": "K7020",
        "capacity_kva": 800,
        "technical_contact": "王工",
        "technical_phone": "13800000000",
    }
    r = await api.client.put(path, json=first, headers=insp1)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    r = await api.client.get(f"{KA}/customers/{api.world.alice}", headers=insp1)
    assert r.json()["key_account_classes"] == []
    r = await api.client.put(path, json={**first, "version": 1, "households": 2000}, headers=insp1)
    assert r.status_code == 200
    assert r.json()["version"] == 2
    r = await api.client.get(f"{KA}/customers/{api.world.alice}", headers=insp1)
    assert r.json()["key_account_classes"] == [4]
    history = (await api.client.get(f"{path}/history", headers=insp1)).json()
    assert [(h["version"], h["snapshot"]["households"]) for h in history] == [(1, 1999)]
    # the class number the rest of the system reads (prepaid protection, inspections)
    async with session_factory(api.engine)() as s:
        customer = await s.get(Customer, api.world.alice)
        assert customer is not None
        assert customer.key_account_class == 4


async def test_a_manager_cannot_make_their_customer_protected(api: Api) -> None:
    """Class 1 (government, public service) and class 5 (important) are never disconnected
    automatically: only the back office decides them."""
    insp1 = await api.login("insp1")
    path = f"{KA}/customers/{api.world.alice}/profile"
    for body in ({"version": 0, "org_type": "government"}, {"version": 0, "important": True}):
        r = await api.client.put(path, json=body, headers=insp1)
        assert r.status_code == 403, body
        assert r.json()["code"] == "error.forbidden"
    assert (await api.client.get(path, headers=insp1)).json() is None
    sup = await api.login("sup")
    r = await api.client.put(path, json={"version": 0, "org_type": "government"}, headers=sup)
    assert r.status_code == 200
    # the manager keeps maintaining the rest, the decided fields as they are
    r = await api.client.put(
        path, json={"version": 1, "org_type": "government", "capacity_kva": 630}, headers=insp1
    )
    assert r.status_code == 200, r.text
    async with session_factory(api.engine)() as s:
        customer = await s.get(Customer, api.world.alice)
        assert customer is not None
        assert customer.key_account_class == 1


async def test_a_stale_profile_save_is_refused(api: Api) -> None:
    insp1 = await api.login("insp1")
    path = f"{KA}/customers/{api.world.alice}/profile"
    assert (await api.client.put(path, json={"version": 0}, headers=insp1)).status_code == 200
    stale = await api.client.put(path, json={"version": 0, "households": 3}, headers=insp1)
    assert stale.status_code == 409
    assert stale.json()["code"] == "error.profile_changed"
    assert stale.json()["params"] == {"version": 1}


async def test_two_parallel_saves_over_one_version_let_exactly_one_win(api: Api) -> None:
    insp1 = await api.login("insp1")
    path = f"{KA}/customers/{api.world.alice}/profile"
    assert (await api.client.put(path, json={"version": 0}, headers=insp1)).status_code == 200
    answers = await asyncio.gather(
        *(api.client.put(path, json={"version": 1, "households": n}, headers=insp1) for n in (1, 2))
    )
    assert sorted(r.status_code for r in answers) == [200, 409]
    history = (await api.client.get(f"{path}/history", headers=insp1)).json()
    assert [h["version"] for h in history] == [1]


async def test_garbage_profiles_are_refused_naming_the_field(api: Api) -> None:
    insp1 = await api.login("insp1")
    path = f"{KA}/customers/{api.world.alice}/profile"
    for body in (
        {"version": 0, "households": -1},
        {"version": 0, "industry_code": "3011"},
        {"version": 0, "voltage_level": "11kV"},
        {"version": 0, "balance_fen": 100},
        {"version": 0, "technical_phone": "<script>"},
    ):
        r = await api.client.put(path, json=body, headers=insp1)
        assert r.status_code == 400, body


async def test_rules_are_data_a_supervisor_edits(api: Api) -> None:
    sup, insp1 = await api.login("sup"), await api.login("insp1")
    rules = (await api.client.get(f"{KA}/rules", headers=insp1)).json()
    assert [r["klass"] for r in rules] == [1, 2, 3, 4, 5, 6]
    assert rules[3]["conditions"] == [{"field": "households", "op": ">=", "value": 2000}]
    assert rules[5]["conditions"] == [{"field": "new_capacity_kva", "op": ">=", "value": 3000}]
    path = f"{KA}/customers/{api.world.alice}/profile"
    await api.client.put(path, json={"version": 0, "households": 1500}, headers=insp1)
    r = await api.client.put(
        f"{KA}/rules/4",
        headers=sup,
        json={"conditions": [{"field": "households", "op": ">=", "value": 1500}]},
    )
    assert r.status_code == 200, r.text
    r = await api.client.get(f"{KA}/customers/{api.world.alice}", headers=insp1)
    assert r.json()["key_account_classes"] == [4]
    bad = await api.client.put(
        f"{KA}/rules/4",
        headers=sup,
        json={"conditions": [{"field": "password", "op": ">=", "value": 1}]},
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "error.rule_invalid"
    assert (
        await api.client.put(f"{KA}/rules/4", headers=insp1, json={"conditions": []})
    ).status_code == 403


# --- alerts ------------------------------------------------------------------------------------


async def test_a_consumption_drop_raises_an_alert(api: Api) -> None:
    await consumption(api, api.world.alice_meter, baseline_wh=10_000, recent_wh=3_000)
    assert await codes(api, "insp1", api.world.alice) == ["alert.consumption_drop"]


async def test_a_consumption_jump_raises_an_alert_and_normal_use_none(api: Api) -> None:
    await consumption(api, api.world.bob_meter, baseline_wh=10_000, recent_wh=20_000)
    await consumption(api, api.world.alice_meter, baseline_wh=10_000, recent_wh=11_000)
    assert await codes(api, "insp2", api.world.bob) == ["alert.consumption_jump"]
    assert await codes(api, "insp1", api.world.alice) == []


async def test_arrears_and_an_expiring_contract_raise_alerts(api: Api) -> None:
    async with session_factory(api.engine)() as s:
        account = await s.get(Account, api.world.alice_account)
        assert account is not None
        account.balance_fen = -12_345
        await s.commit()
    insp1 = await api.login("insp1")
    soon = (today() + timedelta(days=30)).isoformat()
    await api.client.put(
        f"{KA}/customers/{api.world.alice}/profile",
        json={"version": 0, "contract_expires_on": soon},
        headers=insp1,
    )
    r = await api.client.get(f"{KA}/portfolio?alerts_only=true", headers=insp1)
    [item] = r.json()["items"]
    assert [(a["code"], a["params"]) for a in item["alerts"]] == [
        ("alert.arrears", {"arrears_fen": 12_345}),
        ("alert.contract_expiring", {"expires_on": soon}),
    ]


# --- visits ------------------------------------------------------------------------------------


async def test_a_visit_is_planned_once_and_checked_in_with_gps(api: Api) -> None:
    insp1 = await api.login("insp1")
    body = {
        "client_id": str(uuid.uuid4()),
        "customer_id": api.world.alice,
        "planned_for": today().isoformat(),
        "purpose": "annual visit",
    }
    first = await api.client.post(f"{KA}/visits", json=body, headers=insp1)
    again = await api.client.post(f"{KA}/visits", json=body, headers=insp1)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = await api.client.post(f"{KA}/visits", json={**body, "purpose": "x"}, headers=insp1)
    assert other.status_code == 409
    vid = first.json()["id"]
    fix = {"latitude": 31.23, "longitude": 121.47, "accuracy_m": 8}
    insp2 = await api.login("insp2")
    r = await api.client.post(f"{KA}/visits/{vid}/check-in", json=fix, headers=insp2)
    assert r.status_code == 404
    bad = await api.client.post(
        f"{KA}/visits/{vid}/check-in", json={**fix, "latitude": 91}, headers=insp1
    )
    assert bad.status_code == 400
    r = await api.client.post(f"{KA}/visits/{vid}/check-in", json=fix, headers=insp1)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done"
    assert r.json()["latitude"] == 31.23
    retry = await api.client.post(
        f"{KA}/visits/{vid}/check-in", json={**fix, "latitude": 30.0}, headers=insp1
    )
    assert retry.json()["latitude"] == 31.23  # the first check-in stands
    mine = (await api.client.get(f"{KA}/visits", headers=insp1)).json()
    assert [v["id"] for v in mine] == [vid]
    assert (await api.client.get(f"{KA}/visits", headers=insp2)).json() == []


# --- the customer and their manager ------------------------------------------------------------


async def test_a_customer_sees_their_manager_and_a_message_waits_on_the_list(api: Api) -> None:
    alice = await api.login("alice")
    r = await api.client.get(f"{KA}/my-manager", headers=alice)
    assert [(m["user_id"], m["kind"]) for m in r.json()] == [(api.world.users["insp1"], "grid")]
    r = await api.client.post(f"{KA}/my-manager/messages", json={"text": " 请来电 "}, headers=alice)
    assert r.status_code == 201
    assert r.json()["text"] == "请来电"
    assert await codes(api, "insp1", api.world.alice) == ["alert.customer_message"]
    insp1 = await api.login("insp1")
    r = await api.client.post(
        f"{KA}/customers/{api.world.alice}/notes", json={"text": "called back"}, headers=insp1
    )
    assert r.status_code == 201
    assert await codes(api, "insp1", api.world.alice) == []
    blank = await api.client.post(f"{KA}/my-manager/messages", json={"text": "  "}, headers=alice)
    assert blank.status_code == 400


# --- the segmentation run and the 360 ----------------------------------------------------------


async def test_recompute_sets_abc_from_the_ledger_and_credit_from_payment_history(
    api: Api,
) -> None:
    now = datetime.now(UTC)
    async with session_factory(api.engine)() as s:
        for account, fen in ((api.world.alice_account, 90_000), (api.world.bob_account, 10_000)):
            s.add(
                LedgerEntry(
                    account_id=account,
                    kind=EntryKind.CONSUMPTION_CHARGE,
                    amount_fen=-fen,
                    balance_after_fen=-fen,
                    actor="test",
                )
            )
        old = LedgerEntry(
            account_id=api.world.bob_account,
            kind=EntryKind.CONSUMPTION_CHARGE,
            amount_fen=-(10**9),
            balance_after_fen=0,
            actor="test",
            created_at=now - timedelta(days=400),
        )
        s.add(old)
        bob = await s.get(Account, api.world.bob_account)
        assert bob is not None
        bob.balance_fen = -50_000
        for episode, kind in ((1, NoticeKind.DISCONNECT_WARNING), (1, NoticeKind.DISCONNECTED)):
            s.add(
                Notice(
                    account_id=api.world.bob_account,
                    episode=episode,
                    kind=kind,
                    channel=NoticeChannel.SMS,
                    text="",
                    balance_fen=0,
                    status=NoticeStatus.SENT,
                )
            )
        await s.commit()
    sup = await api.login("sup")
    r = await api.client.post(f"{KA}/segmentation/recompute", headers=sup)
    assert r.status_code == 200, r.text
    assert r.json() == {"customers": 2, "a": 1, "b": 1, "c": 0, "key_accounts": 0}
    alice = (await api.client.get(f"{KA}/customers/{api.world.alice}", headers=sup)).json()
    bob = (await api.client.get(f"{KA}/customers/{api.world.bob}", headers=sup)).json()
    assert alice["segment"]["abc_class"] == "A"
    assert alice["segment"]["annual_revenue_fen"] == 90_000
    assert (alice["segment"]["credit_score"], alice["segment"]["credit_rating"]) == (100, "AAA")
    assert bob["segment"]["abc_class"] == "B"
    assert bob["segment"]["annual_revenue_fen"] == 10_000  # the charge of 400 days ago is out
    assert bob["segment"]["credit_inputs"] == {
        "arrears_fen": 50_000,
        "late_payments": 1,
        "disconnections": 1,
    }
    # 100 − 20 (¥500 owed) − 8 (one warning) − 15 (one disconnection)
    assert (bob["segment"]["credit_score"], bob["segment"]["credit_rating"]) == (57, "B")
    again = await api.client.post(f"{KA}/segmentation/recompute", headers=sup)
    assert again.json() == r.json()


async def test_the_360_gathers_every_part_of_the_customer(api: Api) -> None:
    await consumption(api, api.world.alice_meter, baseline_wh=10_000, recent_wh=10_000)
    insp1 = await api.login("insp1")
    await api.client.post(
        f"{KA}/customers/{api.world.alice}/notes", json={"text": "n1"}, headers=insp1
    )
    r = await api.client.get(f"{KA}/customers/{api.world.alice}", headers=insp1)
    body = r.json()
    assert body["customer"]["number"] == "C001"
    assert [a["number"] for a in body["accounts"]] == ["A001"]
    assert [m["meter_id"] for m in body["meters"]] == ["M-ALICE"]
    assert len(body["trend"]) == 31
    assert body["trend"][-2]["wh"] == 10_000
    assert body["trend"][-1]["wh"] == 0
    assert [n["text"] for n in body["notes"]] == ["n1"]
    assert body["managers"][0]["kind"] == "grid"
    assert body["arrears_fen"] == 0
    assert body["alerts"] == []


async def test_settings_are_checked_and_saved(api: Api) -> None:
    sup = await api.login("sup")
    cfg = (await api.client.get(f"{KA}/settings", headers=sup)).json()
    assert (cfg["a_share_bp"], cfg["b_share_bp"]) == (3333, 9500)
    bad = await api.client.put(f"{KA}/settings", json={**cfg, "b_share_bp": 1000}, headers=sup)
    assert bad.status_code == 400
    ok = await api.client.put(f"{KA}/settings", json={**cfg, "a_share_bp": 5000}, headers=sup)
    assert ok.status_code == 200
    assert (await api.client.get(f"{KA}/settings", headers=sup)).json()["a_share_bp"] == 5000


async def test_the_same_visit_sent_twice_in_parallel_is_planned_once(api: Api) -> None:
    insp1 = await api.login("insp1")
    body = {
        "client_id": str(uuid.uuid4()),
        "customer_id": api.world.alice,
        "planned_for": today().isoformat(),
        "purpose": "twice",
    }
    answers = await asyncio.gather(
        *(api.client.post(f"{KA}/visits", json=body, headers=insp1) for _ in range(2))
    )
    assert sorted(r.status_code for r in answers) == [200, 201]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    mine = (await api.client.get(f"{KA}/visits", headers=insp1)).json()
    assert len(mine) == 1


async def test_the_portfolio_is_paged_with_its_total(api: Api) -> None:
    sup = await api.login("sup")
    r = await api.client.get(f"{KA}/portfolio?limit=1&offset=1", headers=sup)
    assert r.json()["total"] == 2
    assert [i["number"] for i in r.json()["items"]] == ["C002"]


async def test_an_outage_on_the_customers_transformer_area_raises_an_alert(api: Api) -> None:
    started = datetime.now(UTC) - timedelta(hours=1)
    async with session_factory(api.engine)() as s:
        s.add(
            OutageNotice(
                kind=OutageKind.UNPLANNED,
                area="一号台区",
                transformer_area_id=api.world.area1,
                starts_at=started,
                expected_end_at=started + timedelta(hours=3),
                reason="fault",
                created_by=api.world.users["op"],
            )
        )
        await s.commit()
    assert await codes(api, "insp1", api.world.alice) == ["alert.outage"]
    assert await codes(api, "insp2", api.world.bob) == []


async def test_an_open_complaint_raises_an_alert_until_the_order_is_closed(api: Api) -> None:
    op = await api.login("op")
    body = {
        "kind": "complaint",
        "channel": "phone",
        "description": "抄表员态度差",
        "customer_id": api.world.alice,
    }
    inquiry = {**body, "kind": "inquiry", "description": "咨询电价"}
    r = await api.client.post(
        "/api/servicedesk/orders", json=inquiry, headers={**op, "Idempotency-Key": "ka-inq-1"}
    )
    assert r.status_code == 201, r.text
    assert await codes(api, "insp1", api.world.alice) == []
    r = await api.client.post(
        "/api/servicedesk/orders", json=body, headers={**op, "Idempotency-Key": "ka-cmp-1"}
    )
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    portfolio = await api.client.get(f"{KA}/portfolio", headers=await api.login("insp1"))
    [item] = portfolio.json()["items"]
    assert [(a["code"], a["params"]["count"]) for a in item["alerts"]] == [
        ("alert.open_complaint", 1)
    ]
    assert await codes(api, "insp2", api.world.bob) == []
    closed = await api.client.post(
        f"/api/servicedesk/orders/{order['id']}/close",
        json={"version": order["version"], "result": "已致歉并回访"},
        headers=op,
    )
    assert closed.status_code == 200, closed.text
    assert await codes(api, "insp1", api.world.alice) == []
    c360 = await api.client.get(
        f"{KA}/customers/{api.world.alice}", headers=await api.login("insp1")
    )
    assert [(o["kind"], o["status"]) for o in c360.json()["work_orders"]] == [
        ("complaint", "closed"),
        ("inquiry", "open"),
    ]
