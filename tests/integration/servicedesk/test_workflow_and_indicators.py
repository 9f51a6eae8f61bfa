"""Deadlines under a controlled clock: a node treated as approved and pushed on (recorded for
accountability), escalation once; and the indicators against hand-computed values."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litestar.testing import AsyncTestClient

from tests.integration.servicedesk.conftest import HOUR_MS, MINUTE_MS, NOW_MS, Clock, Desk

Auth = Callable[[str], dict[str, str]]
BASE = "/api/servicedesk"


def shanghai_ms(*args: int) -> int:
    # Asia/Shanghai is UTC+8 all year
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000) - 8 * HOUR_MS  # type: ignore[misc]


async def take(client: AsyncTestClient, auth: Auth, who: str, kind: str) -> dict[str, Any]:
    r = await client.post(
        f"{BASE}/orders",
        json={"kind": kind, "channel": "phone", "description": "来电"},
        headers={**auth(who), "Idempotency-Key": f"k-{uuid.uuid4()}"},
    )
    assert r.status_code == 201, r.text
    return r.json()["order"]  # type: ignore[no-any-return]


async def test_an_unreviewed_complaint_is_pushed_on_at_its_deadline_and_the_record_says_so(
    client: AsyncTestClient, auth: Auth, clock: Clock
) -> None:
    order = await take(client, auth, "op-zhao", "complaint")
    assert order["node_due_at"] == NOW_MS + HOUR_MS  # one working hour, Friday 10:00 → 11:00
    clock.advance(90 * MINUTE_MS)
    r = await client.post(f"{BASE}/orders/sweep", headers=auth("sup-sun"))
    assert r.json() == {"advanced": 1, "escalated": 0}
    detail = (await client.get(f"{BASE}/orders/{order['id']}", headers=auth("op-zhao"))).json()
    # the next node starts when the review was treated as approved, at 11:00 Friday, and has
    # three working days: Monday, Tuesday, Wednesday 11:00
    assert detail["order"]["node"] == "handle"
    assert detail["order"]["node_started_at"] == NOW_MS + HOUR_MS
    assert detail["order"]["node_due_at"] == shanghai_ms(2026, 11, 25, 11, 0)
    assert [(s["node"], s["outcome"], s["on_time"]) for s in detail["steps"]] == [
        ("review", "auto", False),
        ("handle", None, None),
    ]
    entry = detail["timeline"][-1]
    assert (entry["code"], entry["actor"], entry["at"]) == (
        "order.auto_advanced",
        None,
        NOW_MS + HOUR_MS,
    )
    assert entry["params"] == {"node": "review", "next": "handle", "due_at": NOW_MS + HOUR_MS}
    again = await client.post(f"{BASE}/orders/sweep", headers=auth("sup-sun"))
    assert again.json() == {"advanced": 0, "escalated": 0}


async def test_an_unanswered_inquiry_is_escalated_once_and_shows_in_the_supervisors_list(
    client: AsyncTestClient, auth: Auth, clock: Clock
) -> None:
    order = await take(client, auth, "op-zhao", "inquiry")
    clock.advance(59 * MINUTE_MS)
    assert (await client.post(f"{BASE}/orders/sweep", headers=auth("sup-sun"))).json() == {
        "advanced": 0,
        "escalated": 0,
    }
    clock.advance(2 * MINUTE_MS)
    assert (await client.post(f"{BASE}/orders/sweep", headers=auth("sup-sun"))).json() == {
        "advanced": 0,
        "escalated": 1,
    }
    assert (await client.post(f"{BASE}/orders/sweep", headers=auth("sup-sun"))).json() == {
        "advanced": 0,
        "escalated": 0,
    }
    listed = (
        await client.get(f"{BASE}/orders", params={"escalated": "true"}, headers=auth("sup-sun"))
    ).json()
    assert [(o["id"], o["overdue"], o["escalated"]) for o in listed["items"]] == [
        (order["id"], True, True)
    ]
    detail = (await client.get(f"{BASE}/orders/{order['id']}", headers=auth("sup-sun"))).json()
    assert detail["timeline"][-1]["code"] == "order.escalated"
    assert detail["steps"][0]["escalated"] is True
    r = await client.post(f"{BASE}/orders/sweep", headers=auth("op-zhao"))
    assert r.status_code == 403


async def test_indicators_match_a_hand_computed_day(
    client: AsyncTestClient, auth: Auth, clock: Clock, desk: Desk
) -> None:
    o1 = await take(client, auth, "op-zhao", "inquiry")  # closed at 10:10: first contact
    await take(client, auth, "op-zhao", "complaint")  # review pushed on at 11:00 (late)
    o3 = await take(client, auth, "op-qian", "inquiry")  # escalated, closed late at 11:40
    clock.advance(10 * MINUTE_MS)
    r = await client.post(
        f"{BASE}/orders/{o1['id']}/close",
        json={"version": 1, "result": "答"},
        headers=auth("op-zhao"),
    )
    assert r.status_code == 200
    clock.advance(80 * MINUTE_MS)  # 11:30
    assert (await client.post(f"{BASE}/orders/sweep", headers=auth("sup-sun"))).json() == {
        "advanced": 1,
        "escalated": 1,
    }
    clock.advance(10 * MINUTE_MS)  # 11:40
    v3 = (await client.get(f"{BASE}/orders/{o3['id']}", headers=auth("op-qian"))).json()
    r = await client.post(
        f"{BASE}/orders/{o3['id']}/close",
        json={"version": v3["order"]["version"], "result": "答"},
        headers=auth("op-qian"),
    )
    assert r.json()["order"]["first_contact_resolved"] is False  # it was escalated
    for oid, sat in ((o1["id"], 5), (o3["id"], 2)):
        r = await client.post(
            f"{BASE}/orders/{oid}/return-visit", json={"satisfaction": sat}, headers=auth("op-zhao")
        )
        assert r.status_code == 200
    day = {"from": "2026-11-20", "to": "2026-11-20"}
    found = (await client.get(f"{BASE}/indicators", params=day, headers=auth("sup-sun"))).json()
    # by hand: 3 orders, 1 complaint among 2 customers; 2 closed, 1 at first contact; 3 nodes
    # left (o1 close on time, o2 review pushed on, o3 close late); satisfaction (5 + 2) / 2
    assert found["rows"] == [
        {
            "group": "all",
            "orders": 3,
            "complaints": 1,
            "closed": 2,
            "first_contact_resolved": 1,
            "first_contact_rate": 0.5,
            "steps_done": 3,
            "steps_on_time": 1,
            "on_time_rate": 0.3333,
            "rated": 2,
            "satisfaction_avg": 3.5,
            "complaints_per_10k": 5000.0,
        }
    ]
    assert found["lead_times"] == [
        {
            "kind": "complaint",
            "node": "review",
            "count": 1,
            "avg_minutes": 60.0,
            "max_minutes": 60.0,
            "on_time_rate": 0.0,
        },
        {
            "kind": "inquiry",
            "node": "close",
            "count": 2,
            "avg_minutes": 55.0,
            "max_minutes": 100.0,
            "on_time_rate": 0.5,
        },
    ]
    people = (
        await client.get(
            f"{BASE}/indicators", params={**day, "group": "person"}, headers=auth("sup-sun")
        )
    ).json()
    assert {r["group"]: (r["orders"], r["closed"], r["steps_done"]) for r in people["rows"]} == {
        "system": (0, 0, 1),
        "赵坐席": (2, 1, 1),
        "钱坐席": (1, 1, 1),
    }
    csv = await client.get(f"{BASE}/indicators/csv", params=day, headers=auth("sup-sun"))
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("group,orders,complaints,closed")
    assert lines[1] == "all,3,1,2,1,0.5,3,1,0.3333,2,3.5,5000.0"
    assert csv.headers["content-type"].startswith("text/csv")
    other_day = {"from": "2026-11-21", "to": "2026-11-21"}
    empty = (
        await client.get(f"{BASE}/indicators", params=other_day, headers=auth("sup-sun"))
    ).json()
    assert empty["rows"] == []
    assert (
        await client.get(f"{BASE}/indicators", params=day, headers=auth("cust-wang"))
    ).status_code == 403


async def test_the_back_office_reads_the_workflow_book_and_customers_may_not(
    client: AsyncTestClient, auth: Auth
) -> None:
    book = (await client.get(f"{BASE}/workflows", headers=auth("sup-sun"))).json()
    assert (book["day_start"], book["day_end"]) == ("08:30", "17:30")
    fault = next(w for w in book["workflows"] if w["kind"] == "fault")
    assert [n["key"] for n in fault["nodes"]] == ["dispatch", "arrive", "repair", "close"]
    assert (await client.get(f"{BASE}/workflows", headers=auth("cust-wang"))).status_code == 403
