"""An order's follow-ups: a field task for the inspector, and a meter command that goes through
the command path's four-eyes approval, never around it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import session_factory
from backend.field.books.models import FieldTask
from backend.metering.models import Agent, Meter, MeterStatus
from tests.integration.servicedesk.conftest import NOW_MS, Desk

Auth = Callable[[str], dict[str, str]]


async def _meter(engine: AsyncEngine, desk: Desk) -> None:
    async with session_factory(engine)() as s:
        s.add(Agent(id="agent-1", online=True, last_seen_at=datetime(2026, 1, 1, tzinfo=UTC)))
        await s.flush()
        s.add(Meter(meter_id="M-WANG", customer_id=desk.customers["wang"],
                    account_id=desk.accounts["wang"], agent_id="agent-1",
                    status=MeterStatus.ACTIVE, online=True, relay_state=1,
                    installed_on=date(2025, 1, 1)))  # fmt: skip
        await s.commit()


async def _order(client: AsyncTestClient, auth: Auth, desk: Desk, **extra: Any) -> int:
    body = {"kind": "fault", "channel": "phone", "description": "表箱冒烟，客户要求断电",
            "customer_id": desk.customers["wang"], **extra}  # fmt: skip
    key = {**auth("op-zhao"), "Idempotency-Key": uuid.uuid4().hex}
    r = await client.post("/api/servicedesk/orders", json=body, headers=key)
    assert r.status_code == 201, r.text
    return int(r.json()["order"]["id"])


def _codes(detail: dict[str, Any]) -> list[str]:
    return [e["code"] for e in detail["timeline"]]


async def test_an_order_makes_a_field_task_for_its_customer_and_records_it(
    client: AsyncTestClient, desk: Desk, auth: Auth, engine: AsyncEngine
) -> None:
    await _meter(engine, desk)
    oid = await _order(client, auth, desk, meter_id="M-WANG")
    r = await client.post(f"/api/servicedesk/orders/{oid}/field-task",
                          json={"due_on": "2026-11-21"}, headers=auth("op-zhao"))  # fmt: skip
    assert r.status_code == 201, r.text
    task_id = r.json()["field_task_id"]
    async with session_factory(engine)() as s:
        task = await s.get(FieldTask, task_id)
        assert task is not None
        assert (task.kind.value, task.customer_id) == ("meter_check", desk.customers["wang"])
        assert task.note.startswith(f"#{oid} 表箱冒烟")
    again = await client.post(f"/api/servicedesk/orders/{oid}/field-task", json={},
                              headers=auth("op-qian"))  # fmt: skip
    assert again.json()["field_task_id"] == task_id  # still open: the same task
    d = (await client.get(f"/api/servicedesk/orders/{oid}", headers=auth("op-zhao"))).json()
    assert _codes(d).count("order.field_task") == 1
    assert _codes(d)[-1] == "order.field_task"
    assert d["timeline"][-1]["params"]["task"] == task_id


async def test_a_field_task_needs_the_orders_customer_and_staff_outside_the_back_office_get_403(
    client: AsyncTestClient, desk: Desk, auth: Auth
) -> None:
    r = await client.post("/api/servicedesk/orders", json={
        "kind": "inquiry", "channel": "phone", "description": "匿名咨询电价"},
        headers={**auth("op-zhao"), "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    anon = r.json()["order"]["id"]
    r = await client.post(f"/api/servicedesk/orders/{anon}/field-task", json={},
                          headers=auth("op-zhao"))  # fmt: skip
    assert r.status_code == 400
    assert r.json()["code"] == "error.order_has_no_customer"
    oid = await _order(client, auth, desk)
    for who in ("crew-li", "cust-wang"):
        r = await client.post(f"/api/servicedesk/orders/{oid}/field-task", json={},
                              headers=auth(who))  # fmt: skip
        assert r.status_code == 403, who
    r = await client.post("/api/servicedesk/orders/999999/field-task", json={},
                          headers=auth("op-zhao"))  # fmt: skip
    assert r.status_code == 404


async def test_a_disconnect_from_an_order_waits_for_a_second_persons_approval(
    client: AsyncTestClient, desk: Desk, auth: Auth, engine: AsyncEngine
) -> None:
    await _meter(engine, desk)
    client.app.state.prepaid_clock = lambda: datetime.fromtimestamp(NOW_MS / 1000, UTC)
    oid = await _order(client, auth, desk, meter_id="M-WANG")
    body = {"kind": "disconnect", "reason": "表箱冒烟，安全断电"}
    url = f"/api/servicedesk/orders/{oid}/command"
    r = await client.post(url, json=body, headers=auth("op-zhao"))
    assert r.status_code == 409  # the disconnect policy applies (the account is in arrears)
    assert r.json()["code"] == "error.override_required"
    body["override_reason"] = "安全隐患，须立即断电"
    r = await client.post(url, json=body, headers=auth("op-zhao"))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["command_state"] == "awaiting_approval"
    cid = out["command_id"]
    own = await client.post(f"/api/commands/{cid}/approve", json={}, headers=auth("op-zhao"))
    assert own.status_code == 403
    c = (await client.get(f"/api/commands/{cid}", headers=auth("op-qian"))).json()
    assert c["command"]["state"] == "awaiting_approval"
    decision = {"override": True, "comment": "现场确认"}
    ok = await client.post(f"/api/commands/{cid}/approve", json=decision, headers=auth("sup-sun"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"] == "queued"
    d = (await client.get(f"/api/servicedesk/orders/{oid}", headers=auth("op-zhao"))).json()
    assert _codes(d)[-1] == "order.command"
    assert d["timeline"][-1]["params"] == {
        "command": cid, "kind": "disconnect", "state": "awaiting_approval"}  # fmt: skip


async def test_a_command_needs_the_orders_meter_and_an_operator_and_a_closed_order_takes_none(
    client: AsyncTestClient, desk: Desk, auth: Auth, engine: AsyncEngine
) -> None:
    await _meter(engine, desk)
    body = {"kind": "reconnect", "reason": "客户已缴费"}
    r = await client.post("/api/servicedesk/orders", json={
        "kind": "inquiry", "channel": "phone", "description": "匿名咨询"},
        headers={**auth("op-zhao"), "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    anon = r.json()["order"]["id"]
    r = await client.post(f"/api/servicedesk/orders/{anon}/command", json=body,
                          headers=auth("op-zhao"))  # fmt: skip
    assert r.status_code == 400
    assert r.json()["code"] == "error.order_has_no_meter"
    oid = await _order(client, auth, desk, meter_id="M-WANG")
    for who in ("sup-sun", "crew-li", "cust-wang"):
        r = await client.post(f"/api/servicedesk/orders/{oid}/command", json=body,
                              headers=auth(who))  # fmt: skip
        assert r.status_code == 403, who
    r = await client.post(f"/api/servicedesk/orders/{oid}/command",
                          json={**body, "kind": "arm"}, headers=auth("op-zhao"))  # fmt: skip
    assert r.status_code == 400
    v = (await client.get(f"/api/servicedesk/orders/{oid}", headers=auth("op-zhao"))).json()
    r = await client.post(f"/api/servicedesk/orders/{oid}/close",
                          json={"version": v["order"]["version"], "result": "已处理"},
                          headers=auth("op-zhao"))  # fmt: skip
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/servicedesk/orders/{oid}/command", json=body,
                          headers=auth("op-zhao"))  # fmt: skip
    assert r.status_code == 409
    assert r.json()["code"] == "error.order_closed"
    async with session_factory(engine)() as s:
        assert list(await s.scalars(select(FieldTask))) == []


async def test_a_command_request_sent_twice_with_its_id_is_one_command_recorded_once(
    client: AsyncTestClient, desk: Desk, auth: Auth, engine: AsyncEngine
) -> None:
    await _meter(engine, desk)
    client.app.state.prepaid_clock = lambda: datetime.fromtimestamp(NOW_MS / 1000, UTC)
    oid = await _order(client, auth, desk, meter_id="M-WANG")
    body = {"kind": "disconnect", "reason": "安全断电", "override_reason": "表箱冒烟",
            "id": "cmd-order-0001"}  # fmt: skip
    url = f"/api/servicedesk/orders/{oid}/command"
    first = await client.post(url, json=body, headers=auth("op-zhao"))
    again = await client.post(url, json=body, headers=auth("op-zhao"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["command_id"] == again.json()["command_id"] == "cmd-order-0001"
    d = (await client.get(f"/api/servicedesk/orders/{oid}", headers=auth("op-zhao"))).json()
    assert _codes(d).count("order.command") == 1
    listed = (await client.get("/api/commands", headers=auth("op-zhao"))).json()
    assert [c["id"] for c in listed["items"]] == ["cmd-order-0001"]
