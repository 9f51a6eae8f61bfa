"""The commands API: manual commands with a reason and an audit trail, bulk orders under the
four-eyes rule, cancellation, and the live status."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from backend.commands import queries, service
from backend.commands.lifecycle import Event, State
from backend.commands.models import Command
from backend.commands.schemas import CommandStatus
from backend.db import session_factory
from backend.metering.models import Meter
from protocols.contract import RelayState
from tests.integration.api.conftest import Api
from tests.integration.prepaid.conftest import set_relay

ON = int(RelayState.CONNECTED)


async def order(api: Api, user: str = "op", **body: object) -> dict[str, object]:
    r = await api.client.post("/api/commands", json=body, headers=await api.login(user))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_an_operator_orders_a_disconnect_with_a_reason_and_the_audit_trail_shows_it(
    quiet_api: Api,
) -> None:
    await set_relay(quiet_api.engine, quiet_api.world.alice_meter, ON)
    c = await order(quiet_api, meter_pk=quiet_api.world.alice_meter, kind="disconnect",
                    reason="safety: meter box damaged",
                    override_reason="not in arrears: a safety disconnect")  # fmt: skip
    assert (c["state"], c["actor"], c["expected_relay_state"]) == ("awaiting_approval", "op", 0)
    r = await quiet_api.client.get(f"/api/commands/{c['id']}", headers=await quiet_api.login("sup"))
    (audit,) = r.json()["audit"]
    assert (audit["event"], audit["actor"], audit["to_state"]) == (
        "create", "op", "awaiting_approval",
    )  # fmt: skip
    assert audit["detail"] == "safety: meter box damaged"
    listed = await quiet_api.client.get(
        "/api/commands?state=awaiting_approval", headers=await quiet_api.login("op")
    )
    assert [x["id"] for x in listed.json()["items"]] == [c["id"]]


async def test_a_retry_with_the_same_command_id_returns_the_same_command(quiet_api: Api) -> None:
    body = {"meter_pk": quiet_api.world.alice_meter, "kind": "read_now", "reason": "check",
            "id": "op-cmd-0001"}  # fmt: skip
    first = await order(quiet_api, **body)
    second = await order(quiet_api, **body)
    assert first["id"] == second["id"] == "op-cmd-0001"


async def test_a_command_without_a_reason_or_with_unknown_fields_is_refused_naming_the_field(
    quiet_api: Api,
) -> None:
    op = await quiet_api.login("op")
    m = quiet_api.world.alice_meter
    for body, field in (
        ({"meter_pk": m, "kind": "disconnect"}, "reason"),
        ({"meter_pk": m, "kind": "disconnect", "reason": "x" * 501}, "reason"),
        ({"meter_pk": m, "kind": "explode", "reason": "test"}, "kind"),
        ({"meter_pk": m, "kind": "disconnect", "reason": "test", "state": "verified"}, "state"),
        ({"meter_pk": 999_999, "kind": "disconnect", "reason": "test"}, "meter_pk"),
    ):
        r = await quiet_api.client.post("/api/commands", json=body, headers=op)
        assert r.status_code == 400, body
        assert field in r.text


async def test_a_second_command_for_a_meter_with_one_on_its_way_is_409(quiet_api: Api) -> None:
    await set_relay(quiet_api.engine, quiet_api.world.alice_meter, ON)
    body = {"meter_pk": quiet_api.world.alice_meter, "kind": "disconnect", "reason": "arrears",
            "override_reason": "ordered by the court"}  # fmt: skip
    await order(quiet_api, **body)
    r = await quiet_api.client.post("/api/commands", json=body, headers=await quiet_api.login("op"))
    assert r.status_code == 409
    assert "already has command" in r.json()["detail"]


async def test_customers_inspectors_and_supervisors_cannot_order_commands(quiet_api: Api) -> None:
    body = {"meter_pk": quiet_api.world.alice_meter, "kind": "disconnect", "reason": "arrears"}
    for user in ("alice", "insp1", "sup"):
        r = await quiet_api.client.post(
            "/api/commands", json=body, headers=await quiet_api.login(user)
        )
        assert r.status_code == 403, user
    r = await quiet_api.client.get("/api/commands", headers=await quiet_api.login("alice"))
    assert r.status_code == 403


async def test_a_bulk_disconnect_waits_for_a_second_operator_to_approve_it(
    quiet_api: Api,
) -> None:
    api = quiet_api
    async with session_factory(api.engine)() as s:
        await s.execute(update(Meter).values(relay_state=ON, agent_id="agent-1"))
        await s.commit()
    op, admin = await api.login("op"), await api.login("admin")
    r = await api.client.post(
        "/api/command-batches", headers=op,
        json={"meter_pks": [api.world.alice_meter, api.world.bob_meter], "kind": "disconnect",
              "reason": "transformer area 1 arrears campaign",
              "override_reason": "the campaign was agreed with the district"},
    )  # fmt: skip
    assert r.status_code == 201
    batch = r.json()
    assert batch["needs_approval"] is True
    assert {c["state"] for c in batch["commands"]} == {"awaiting_approval"}
    queue = await api.client.get("/api/command-batches?awaiting_approval=true", headers=admin)
    assert [b["id"] for b in queue.json()["items"]] == [batch["id"]]
    own = await api.client.post(f"/api/command-batches/{batch['id']}/approve", json={}, headers=op)
    assert own.status_code == 403
    assert "four-eyes" in own.json()["detail"]
    ok = await api.client.post(
        f"/api/command-batches/{batch['id']}/approve",
        json={"comment": "checked", "override": True}, headers=admin,
    )  # fmt: skip
    assert ok.status_code == 200
    assert {(c["state"], c["approver"]) for c in ok.json()["commands"]} == {("queued", "admin")}
    again = await api.client.post(
        f"/api/command-batches/{batch['id']}/reject", json={}, headers=admin
    )
    assert again.status_code == 409


async def test_a_rejected_bulk_disconnect_sends_nothing(quiet_api: Api) -> None:
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, ON)
    r = await api.client.post(
        "/api/command-batches", headers=await api.login("op"),
        json={"meter_pks": [api.world.alice_meter], "kind": "disconnect", "reason": "arrears",
              "override_reason": "meter tampering found"},
    )  # fmt: skip
    rejected = await api.client.post(
        f"/api/command-batches/{r.json()['id']}/reject", json={"comment": "customer is ill"},
        headers=await api.login("admin"),
    )  # fmt: skip
    assert [c["state"] for c in rejected.json()["commands"]] == ["rejected"]


async def test_a_bulk_order_listing_a_meter_twice_is_refused(quiet_api: Api) -> None:
    m = quiet_api.world.alice_meter
    r = await quiet_api.client.post(
        "/api/command-batches", headers=await quiet_api.login("op"),
        json={"meter_pks": [m, m], "kind": "reconnect", "reason": "restore"},
    )  # fmt: skip
    assert r.status_code == 400
    assert "meter_pks" in r.text


async def test_a_command_can_be_cancelled_before_it_is_sent_but_not_after(quiet_api: Api) -> None:
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, ON)
    op = await api.login("op")
    body = {"meter_pk": api.world.alice_meter, "kind": "disconnect", "reason": "arrears",
            "override_reason": "meter tampering found"}  # fmt: skip
    first = await order(api, **body)
    r = await api.client.post(
        f"/api/commands/{first['id']}/cancel", json={"reason": "customer paid"}, headers=op
    )
    assert r.json()["state"] == "cancelled"
    second = await order(api, **body)
    approved = await api.client.post(
        f"/api/commands/{second['id']}/approve", json={"comment": "seen it", "override": True},
        headers=await api.login("admin"),
    )  # fmt: skip
    assert approved.json()["state"] == "queued"
    async with session_factory(api.engine)() as s:
        c = await s.get(Command, second["id"])
        assert c is not None
        await service.transition(s, c, Event.DISPATCH, "test")
        await s.commit()
    late = await api.client.post(
        f"/api/commands/{second['id']}/cancel", json={"reason": "too late"}, headers=op
    )
    assert late.status_code == 409
    assert "cannot cancel a command that is dispatched" in late.json()["detail"]


async def test_the_live_status_answers_as_soon_as_the_command_moves_on(quiet_api: Api) -> None:
    api = quiet_api
    c = await order(api, meter_pk=api.world.alice_meter, kind="read_now", reason="check")
    sessions = session_factory(api.engine)

    async def watch() -> CommandStatus:
        async with sessions() as s:
            return await queries.wait_status(s, str(c["id"]), State.QUEUED, timedelta(seconds=20))

    waiting = asyncio.create_task(watch())
    async with sessions() as s:
        row = await s.get(Command, c["id"])
        assert row is not None
        await service.transition(s, row, Event.DISPATCH, "test")
        await s.commit()
    status = await asyncio.wait_for(waiting, 10)
    assert status.state is State.DISPATCHED


async def test_the_status_endpoint_answers_at_once_when_the_state_already_differs(
    quiet_api: Api,
) -> None:
    api = quiet_api
    c = await order(api, meter_pk=api.world.alice_meter, kind="read_now", reason="check")
    sup = await api.login("sup")
    r = await api.client.get(f"/api/commands/{c['id']}/status?after=dispatched&wait=30",
                             headers=sup)  # fmt: skip
    assert (r.json()["state"], r.json()["terminal"]) == ("queued", False)
    unknown = await api.client.get("/api/commands/no-such-command/status", headers=sup)
    assert unknown.status_code == 404
