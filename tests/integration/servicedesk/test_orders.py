"""95598 work orders over HTTP: idempotent intake, scope, first-contact ownership and
transfers, compare-and-set decisions, the fault → crew → close → rating path, outages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from litestar.testing import AsyncTestClient

from tests.integration.servicedesk.conftest import HOUR_MS, MINUTE_MS, NOW_MS, Clock, Desk

Auth = Callable[[str], dict[str, str]]
BASE = "/api/servicedesk"


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"wo-{uuid.uuid4()}"}


async def take_call(
    client: AsyncTestClient, auth: Auth, who: str = "op-zhao", **body: Any
) -> dict[str, Any]:
    data = {"kind": "inquiry", "channel": "phone", "description": "咨询电价", **body}
    r = await client.post(f"{BASE}/orders", json=data, headers={**auth(who), **key()})
    assert r.status_code == 201, r.text
    return r.json()["order"]  # type: ignore[no-any-return]


async def test_a_double_submitted_intake_makes_one_order(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    body = {
        "kind": "complaint",
        "channel": "phone",
        "description": "抄表员态度差",
        "customer_id": desk.customers["wang"],
    }
    headers = {**auth("op-zhao"), **key()}
    first, again = await asyncio.gather(
        client.post(f"{BASE}/orders", json=body, headers=headers),
        client.post(f"{BASE}/orders", json=body, headers=headers),
    )
    assert sorted([first.status_code, again.status_code]) == [200, 201]
    assert first.json()["order"]["id"] == again.json()["order"]["id"]
    third = await client.post(f"{BASE}/orders", json=body, headers=headers)
    assert (third.status_code, third.headers["Idempotent-Replayed"]) == (200, "true")
    other = await client.post(
        f"{BASE}/orders", json={**body, "description": "别的"}, headers=headers
    )
    assert (other.status_code, other.json()["code"]) == (422, "error.order_key_reused")
    listed = (await client.get(f"{BASE}/orders", headers=auth("op-zhao"))).json()
    assert listed["total"] == 1


async def test_intake_fills_contact_and_location_from_the_customer_and_the_taker_owns_it(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    order = await take_call(client, auth, account_id=desk.accounts["wang"])
    assert (order["customer_id"], order["contact_name"], order["contact_phone"]) == (
        desk.customers["wang"],
        "王建国",
        "13800001111",
    )
    assert order["location"] == "文一路 8 号 2 单元 301"
    assert order["owner"]["id"] == desk.users["op-zhao"]
    assert (order["node"], order["node_due_at"]) == ("close", NOW_MS + HOUR_MS)


async def test_intake_refuses_unknown_fields_and_a_mismatched_account(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    body = {"kind": "fault", "channel": "phone", "description": "停电", "owner_id": 1}
    r = await client.post(f"{BASE}/orders", json=body, headers={**auth("op-zhao"), **key()})
    assert r.status_code == 400
    body = {
        "kind": "fault",
        "channel": "phone",
        "description": "停电",
        "customer_id": desk.customers["wang"],
        "account_id": desk.accounts["zhou"],
    }
    r = await client.post(f"{BASE}/orders", json=body, headers={**auth("op-zhao"), **key()})
    assert (r.status_code, r.json()["field"]) == (400, "account_id")
    r = await client.post(
        f"{BASE}/orders", json={**body, "kind": "x"}, headers={**auth("op-zhao"), **key()}
    )
    assert r.status_code == 400


async def test_a_customer_sees_only_their_own_orders_and_another_customers_is_404(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    r = await client.post(
        f"{BASE}/reports",
        json={"description": "家里停电了", "account_id": desk.accounts["wang"]},
        headers={**auth("cust-wang"), **key()},
    )
    assert r.status_code == 201
    mine = r.json()["order"]
    assert (mine["channel"], mine["owner"], mine["customer_id"]) == (
        "pwa",
        None,
        desk.customers["wang"],
    )
    assert (
        await client.get(f"{BASE}/orders/{mine['id']}", headers=auth("cust-zhou"))
    ).status_code == 404
    assert (await client.get(f"{BASE}/orders", headers=auth("cust-zhou"))).json()["total"] == 0
    assert (await client.get(f"{BASE}/orders", headers=auth("cust-wang"))).json()["total"] == 1
    stolen = await client.post(
        f"{BASE}/reports",
        json={"description": "x", "account_id": desk.accounts["zhou"]},
        headers={**auth("cust-wang"), **key()},
    )
    assert stolen.status_code == 404
    assert (
        await client.post(
            f"{BASE}/orders",
            json={"kind": "fault", "channel": "pwa", "description": "x"},
            headers={**auth("cust-wang"), **key()},
        )
    ).status_code == 403
    rate = await client.post(
        f"{BASE}/orders/{mine['id']}/rating", json={"satisfaction": 5}, headers=auth("cust-zhou")
    )
    assert rate.status_code == 404
    crew = await client.get(f"{BASE}/orders/{mine['id']}", headers=auth("crew-li"))
    assert crew.status_code == 404  # not dispatched to them


async def test_only_the_owner_closes_until_an_audited_transfer_hands_it_on(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    order = await take_call(client, auth)
    path = f"{BASE}/orders/{order['id']}"
    r = await client.post(
        f"{path}/close", json={"version": 1, "result": "已答复"}, headers=auth("op-qian")
    )
    assert (r.status_code, r.json()["code"]) == (403, "error.order_not_yours")
    r = await client.post(
        f"{path}/transfer",
        json={"version": 1, "to_user_id": desk.users["op-qian"], "reason": "交班"},
        headers=auth("op-zhao"),
    )
    assert r.json()["order"]["owner"]["name"] == "钱坐席"
    entry = r.json()["timeline"][-1]
    assert (entry["code"], entry["params"], entry["actor"]["name"]) == (
        "order.transferred",
        {"from_user": "赵坐席", "to_user": "钱坐席", "reason": "交班"},
        "赵坐席",
    )
    r = await client.post(
        f"{path}/close", json={"version": 1, "result": "x"}, headers=auth("op-qian")
    )
    assert (r.status_code, r.json()["code"]) == (409, "error.order_changed")
    r = await client.post(
        f"{path}/close", json={"version": 2, "result": "已答复"}, headers=auth("op-qian")
    )
    closed = r.json()["order"]
    assert (closed["status"], closed["first_contact_resolved"]) == ("closed", False)
    r = await client.post(
        f"{path}/transfer",
        json={"version": 3, "to_user_id": desk.users["op-zhao"], "reason": "x"},
        headers=auth("op-qian"),
    )
    assert (r.status_code, r.json()["code"]) == (409, "error.order_closed")


async def test_a_transfer_to_a_customer_is_refused_naming_the_field(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    order = await take_call(client, auth)
    r = await client.post(
        f"{BASE}/orders/{order['id']}/transfer",
        json={"version": 1, "to_user_id": desk.users["cust-wang"], "reason": "x"},
        headers=auth("op-zhao"),
    )
    assert (r.status_code, r.json()["field"]) == (400, "to_user_id")


async def test_an_inquiry_closed_by_its_taker_is_resolved_at_first_contact(
    client: AsyncTestClient, auth: Auth
) -> None:
    order = await take_call(client, auth)
    r = await client.post(
        f"{BASE}/orders/{order['id']}/close",
        json={"version": 1, "result": "已告知分时电价"},
        headers=auth("op-zhao"),
    )
    assert r.json()["order"]["first_contact_resolved"] is True
    assert [s["outcome"] for s in r.json()["steps"]] == ["closed"]


async def test_two_operators_closing_and_transferring_at_once_yield_one_effect(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    order = await take_call(client, auth)
    path = f"{BASE}/orders/{order['id']}"
    a, b = await asyncio.gather(
        client.post(f"{path}/close", json={"version": 1, "result": "A"}, headers=auth("op-zhao")),
        client.post(
            f"{path}/transfer",
            json={"version": 1, "to_user_id": desk.users["op-qian"], "reason": "B"},
            headers=auth("sup-sun"),
        ),
    )
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    detail = (await client.get(path, headers=auth("sup-sun"))).json()
    assert detail["order"]["version"] == 2
    codes = [e["code"] for e in detail["timeline"]]
    assert codes.count("order.closed") + codes.count("order.transferred") == 1


async def test_two_closes_at_once_close_once(client: AsyncTestClient, auth: Auth) -> None:
    order = await take_call(client, auth)
    path = f"{BASE}/orders/{order['id']}/close"
    results = await asyncio.gather(
        *(
            client.post(path, json={"version": 1, "result": f"r{i}"}, headers=auth(who))
            for i, who in enumerate(["op-zhao", "sup-sun", "op-zhao"])
        )
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409]


async def test_a_fault_is_dispatched_the_crew_report_attaches_and_the_customer_rates(
    client: AsyncTestClient, auth: Auth, desk: Desk, clock: Clock
) -> None:
    r = await client.post(
        f"{BASE}/reports",
        json={
            "description": "整栋楼停电",
            "account_id": desk.accounts["zhou"],
            "location": "文三路 66 号",
        },
        headers={**auth("cust-zhou"), **key()},
    )
    order = r.json()["order"]
    path = f"{BASE}/orders/{order['id']}"
    r = await client.post(f"{path}/take", json={"version": 1}, headers=auth("op-zhao"))
    assert r.json()["order"]["owner"]["name"] == "赵坐席"
    late = await client.post(f"{path}/take", json={"version": 1}, headers=auth("op-qian"))
    assert late.status_code == 409
    r = await client.post(f"{path}/advance", json={"version": 2}, headers=auth("op-zhao"))
    assert (r.status_code, r.json()["code"]) == (409, "error.node_done_by_other")
    r = await client.post(
        f"{path}/dispatch",
        json={"version": 2, "crew_id": desk.users["crew-li"]},
        headers=auth("op-zhao"),
    )
    assert (r.json()["order"]["node"], r.json()["order"]["crew"]["name"]) == ("arrive", "李师傅")
    clock.advance(20 * MINUTE_MS)
    job = {
        "client_id": str(uuid.uuid4()),
        "workers": ["李师傅"],
        "content": "更换熔丝",
        "area": "文三路南台区",
        "started_at": clock.ms - MINUTE_MS,
        "expected_finish_at": clock.ms + HOUR_MS,
        "work_order_id": order["id"],
        "fix": {
            "latitude": 30.275,
            "longitude": 120.15,
            "accuracy_m": 8,
            "fix_at": clock.ms - MINUTE_MS,
        },
    }
    r = await client.post(f"{BASE}/repair-jobs", json=job, headers=auth("crew-li"))
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    seen = (await client.get(path, headers=auth("crew-li"))).json()
    assert (seen["order"]["node"], seen["order"]["repair_job_id"]) == ("repair", job_id)
    clock.advance(HOUR_MS)
    r = await client.post(
        f"{BASE}/repair-jobs/{job_id}/finish",
        json={"finished_at": clock.ms - MINUTE_MS, "note": "已恢复"},
        headers=auth("crew-li"),
    )
    assert r.status_code == 200
    detail = (await client.get(path, headers=auth("op-zhao"))).json()
    assert detail["order"]["node"] == "close"
    assert [(s["node"], s["on_time"]) for s in detail["steps"]] == [
        ("dispatch", True),
        ("arrive", True),
        ("repair", True),
        ("close", None),
    ]
    early = await client.post(f"{path}/rating", json={"satisfaction": 5}, headers=auth("cust-zhou"))
    assert (early.status_code, early.json()["code"]) == (409, "error.order_not_closed")
    r = await client.post(
        f"{path}/close",
        json={"version": detail["order"]["version"], "result": "熔丝熔断，已更换"},
        headers=auth("op-zhao"),
    )
    assert r.json()["order"]["first_contact_resolved"] is False  # a crew was needed
    r = await client.post(
        f"{path}/rating", json={"satisfaction": 4, "comment": "很快"}, headers=auth("cust-zhou")
    )
    assert r.json()["order"]["satisfaction"] == 4
    again = await client.post(f"{path}/rating", json={"satisfaction": 1}, headers=auth("cust-zhou"))
    assert (again.status_code, again.json()["code"]) == (409, "error.order_rated")
    visit = await client.post(
        f"{path}/return-visit", json={"satisfaction": 2, "note": "回访"}, headers=auth("op-zhao")
    )
    assert visit.json()["order"]["satisfaction"] == 4  # the customer's own word stands
    codes = [e["code"] for e in visit.json()["timeline"]]
    assert codes == [
        "order.created",
        "order.taken",
        "order.dispatched",
        "order.crew_arrived",
        "order.repaired",
        "order.closed",
        "order.rated",
        "order.return_visit",
    ]


async def test_a_fault_in_an_area_under_a_known_outage_is_linked_not_dispatched(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    outage = await client.post(
        f"{BASE}/outages",
        json={
            "kind": "unplanned",
            "area": "文一路北台区",
            "transformer_area_id": desk.areas["north"],
            "starts_at": NOW_MS - HOUR_MS,
            "expected_end_at": NOW_MS + 2 * HOUR_MS,
            "reason": "10kV 线路故障",
        },
        headers=auth("op-zhao"),
    )
    assert outage.status_code == 201
    order = await take_call(client, auth, kind="fault", customer_id=desk.customers["wang"])
    assert (order["outage_id"], order["node"]) == (outage.json()["id"], "close")
    r = await client.post(
        f"{BASE}/orders/{order['id']}/dispatch",
        json={"version": 1, "crew_id": desk.users["crew-li"]},
        headers=auth("op-zhao"),
    )
    assert (r.status_code, r.json()["code"]) == (409, "error.order_linked_to_outage")
    other = await take_call(client, auth, kind="fault", customer_id=desk.customers["zhou"])
    assert (other["outage_id"], other["node"]) == (None, "dispatch")  # another area


async def test_intake_search_finds_customers_by_name_number_phone_address_and_account(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    for q, by in (("王建国", "any"), ("3300001001", "any"), ("13800001111", "any"),
                  ("文一路", "address"), ("A-1001", "any")):  # fmt: skip
        r = await client.get(
            f"{BASE}/customers", params={"q": q, "by": by}, headers=auth("op-zhao")
        )
        assert [c["id"] for c in r.json()] == [desk.customers["wang"]], q
    r = await client.get(f"{BASE}/customers", params={"q": "王"}, headers=auth("cust-wang"))
    assert r.status_code == 403


async def test_a_crew_finishes_its_job_even_when_the_order_was_closed_meanwhile(
    client: AsyncTestClient, auth: Auth, desk: Desk, clock: Clock
) -> None:
    order = await take_call(client, auth, kind="fault", customer_id=desk.customers["zhou"])
    path = f"{BASE}/orders/{order['id']}"
    r = await client.post(
        f"{path}/dispatch",
        json={"version": 1, "crew_id": desk.users["crew-li"]},
        headers=auth("op-zhao"),
    )
    assert r.status_code == 200
    job = {
        "client_id": str(uuid.uuid4()), "workers": ["李师傅"], "content": "巡视",
        "area": "文三路南台区", "started_at": clock.ms, "expected_finish_at": clock.ms + HOUR_MS,
        "work_order_id": order["id"],
        "fix": {"latitude": 30.275, "longitude": 120.15, "accuracy_m": 8, "fix_at": clock.ms},
    }  # fmt: skip
    r = await client.post(f"{BASE}/repair-jobs", json=job, headers=auth("crew-li"))
    assert r.status_code == 201
    r = await client.post(
        f"{path}/close", json={"version": 3, "result": "客户自行恢复"}, headers=auth("op-zhao")
    )
    assert r.json()["order"]["status"] == "closed"
    clock.advance(30 * MINUTE_MS)
    done = await client.post(
        f"{BASE}/repair-jobs/{r.json()['order']['repair_job_id']}/finish",
        json={"finished_at": clock.ms, "note": ""},
        headers=auth("crew-li"),
    )
    assert (done.status_code, done.json()["status"]) == (200, "finished")


async def test_a_crew_report_naming_an_order_it_was_not_sent_to_is_refused(
    client: AsyncTestClient, auth: Auth, desk: Desk, clock: Clock
) -> None:
    order = await take_call(client, auth, kind="fault", customer_id=desk.customers["zhou"])
    job = {
        "client_id": str(uuid.uuid4()), "workers": ["李师傅"], "content": "巡视",
        "area": "文三路南台区", "started_at": clock.ms, "expected_finish_at": clock.ms + HOUR_MS,
        "work_order_id": order["id"],
        "fix": {"latitude": 30.275, "longitude": 120.15, "accuracy_m": 8, "fix_at": clock.ms},
    }  # fmt: skip
    r = await client.post(f"{BASE}/repair-jobs", json=job, headers=auth("crew-li"))
    assert (r.status_code, r.json()["code"]) == (404, "error.order_not_found")
    jobs = await client.get(f"{BASE}/repair-jobs", headers=auth("crew-li"))
    assert jobs.json() == []  # nothing half-recorded
