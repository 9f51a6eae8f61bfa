"""One disconnect policy for every manual disconnect: a second person approves (four-eyes),
one the policy blocks needs an explicit override with a reason, a protected customer's a
supervisor's override; every decision is a compare-and-set, so of concurrent approve / reject /
approve requests exactly one wins (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Customer
from backend.auth.models import Role, User
from backend.auth.passwords import hash_password
from backend.commands import decisions, service
from backend.commands.lifecycle import State
from backend.commands.models import Command, CommandAudit
from backend.db import session_factory
from backend.server import make_server
from backend.settings import load_settings
from protocols.contract import RelayState
from tests.integration.api.conftest import Api
from tests.integration.prepaid.conftest import set_relay
from tests.support.e2e import stop_server, true_if
from tests.support.ingest_agent import until
from tests.support.services import free_port
from tests.support.world import PASSWORD, World, build_world

ON = int(RelayState.CONNECTED)
OVERRIDE = {"comment": "checked on site with the district office", "override": True}


@dataclass
class Live:
    """The API under uvicorn in this event loop, over real TCP: requests sent together are
    handled together (the in-process test client runs one request at a time)."""

    client: httpx.AsyncClient
    world: World
    engine: AsyncEngine

    async def login(self, username: str) -> dict[str, str]:
        r = await self.client.post(
            "/api/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
async def live(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Live]:
    world = await build_world(engine)
    port = free_port()
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        http_port=port, log_level="WARNING", auth_require_totp=False,
    )  # fmt: skip
    server = make_server(settings)
    serving = asyncio.create_task(server.serve())
    try:
        await until(lambda: true_if(server.started), 60, "the API to start")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield Live(client, world, engine)
    finally:
        await stop_server(server, serving)


async def _users(api: Api | Live, *names: str, role: Role = Role.OPERATOR) -> None:
    async with session_factory(api.engine)() as s:
        hashed = hash_password(PASSWORD)
        s.add_all([User(username=n, role=role, password_hash=hashed) for n in names])
        await s.commit()


async def _order(api: Api | Live, user: str = "op", **extra: object) -> dict[str, object]:
    await set_relay(api.engine, api.world.alice_meter, ON)
    body = {"meter_pk": api.world.alice_meter, "kind": "disconnect", "reason": "tampering",
            "override_reason": "seal broken: disconnect for safety", **extra}  # fmt: skip
    r = await api.client.post("/api/commands", json=body, headers=await api.login(user))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_single_disconnect_by_one_operator_is_not_sent_until_a_second_person_approves(
    quiet_api: Api,
) -> None:
    api = quiet_api
    c = await _order(api)
    assert (c["state"], c["approval"]) == ("awaiting_approval", "override")
    assert c["subject"] == {
        "customer_name": "Alice", "customer_number": "C001", "address": "",
        "account_number": "A001", "balance_fen": 0, "owed_fen": 0,
    }  # fmt: skip
    assert "arrears" in c["verdict"]["blocked_by"]
    said = {r["rule"]: (r["code"], r["params"]) for r in c["verdict"]["rules"]}
    assert said["arrears"] == ("policy.arrears_not_below", {"balance_fen": 0, "threshold_fen": 0})
    assert said["warning"] == ("policy.no_warning", {})
    own = await api.client.post(
        f"/api/commands/{c['id']}/approve", json=OVERRIDE, headers=await api.login("op")
    )
    assert own.status_code == 403
    assert "four-eyes" in own.json()["detail"]
    async with session_factory(api.engine)() as s:
        assert (await s.get(Command, c["id"])).state is State.AWAITING_APPROVAL  # type: ignore[union-attr]
    ok = await api.client.post(
        f"/api/commands/{c['id']}/approve", json=OVERRIDE, headers=await api.login("admin")
    )
    assert ok.status_code == 200, ok.text
    assert (ok.json()["state"], ok.json()["approver"]) == ("queued", "admin")
    detail = await api.client.get(f"/api/commands/{c['id']}", headers=await api.login("sup"))
    events = [(a["event"], a["actor"], a["to_state"]) for a in detail.json()["audit"]]
    assert events == [("create", "op", "awaiting_approval"), ("approve", "admin", "queued")]
    assert detail.json()["audit"][1]["detail"].startswith("override approved: checked on site")
    notes = [a["note"] for a in detail.json()["audit"]]
    assert notes == ["tampering", "checked on site with the district office"]


async def test_a_disconnect_the_policy_blocks_needs_a_reason_to_be_ordered_at_all(
    quiet_api: Api,
) -> None:
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, ON)
    r = await api.client.post(
        "/api/commands", headers=await api.login("op"),
        json={"meter_pk": api.world.alice_meter, "kind": "disconnect", "reason": "arrears"},
    )  # fmt: skip
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "error.override_required"
    assert body["params"]["meters"] == "M-ALICE"
    assert "arrears" in body["params"]["blocked_by"].split(", ")
    async with session_factory(api.engine)() as s:
        assert (await s.scalars(select(Command))).all() == []


async def test_approving_a_blocked_disconnect_without_an_explicit_override_is_refused(
    quiet_api: Api,
) -> None:
    api = quiet_api
    c = await _order(api)
    admin = await api.login("admin")
    for body in ({}, {"comment": "ok"}, {"override": True}, {"override": True, "comment": " "}):
        r = await api.client.post(f"/api/commands/{c['id']}/approve", json=body, headers=admin)
        assert r.status_code == 409, body
        assert r.json()["code"] == "error.override_required"


async def test_a_protected_customers_disconnect_needs_a_supervisors_override(
    quiet_api: Api,
) -> None:
    api = quiet_api
    async with session_factory(api.engine)() as s:
        await s.execute(update(Customer).where(Customer.id == api.world.alice).values(
            protected=True))  # fmt: skip
        await s.commit()
    await _users(api, "op2")
    refused = await api.client.post(
        "/api/commands", headers=await api.login("op"),
        json={"meter_pk": api.world.alice_meter, "kind": "disconnect", "reason": "hospital"},
    )  # fmt: skip
    assert refused.json()["code"] == "error.supervisor_override_required"
    c = await _order(api)
    assert c["approval"] == "supervisor_override"
    assert c["verdict"]["protected"] is True
    by_operator = await api.client.post(
        f"/api/commands/{c['id']}/approve", json=OVERRIDE, headers=await api.login("op2")
    )
    assert by_operator.status_code == 403
    assert "supervisor" in by_operator.json()["detail"]
    by_supervisor = await api.client.post(
        f"/api/commands/{c['id']}/approve", json=OVERRIDE, headers=await api.login("sup")
    )
    assert by_supervisor.status_code == 200
    assert by_supervisor.json()["approval"] == "supervisor_override"


async def test_a_batch_the_policy_blocks_is_not_executed_without_an_override_step(
    quiet_api: Api,
) -> None:
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, ON)
    op = await api.login("op")
    body = {"meter_pks": [api.world.alice_meter], "kind": "disconnect", "reason": "campaign"}
    r = await api.client.post("/api/command-batches", json=body, headers=op)
    assert r.status_code == 409
    assert r.json()["code"] == "error.override_required"
    r = await api.client.post(
        "/api/command-batches", headers=op,
        json={**body, "override_reason": "agreed with the district office"},
    )  # fmt: skip
    batch = r.json()
    assert (batch["approval"], batch["commands"][0]["state"]) == ("override", "awaiting_approval")
    admin = await api.login("admin")
    plain = await api.client.post(
        f"/api/command-batches/{batch['id']}/approve", json={}, headers=admin
    )
    assert plain.status_code == 409
    ok = await api.client.post(
        f"/api/command-batches/{batch['id']}/approve", json=OVERRIDE, headers=admin
    )
    assert [c["state"] for c in ok.json()["commands"]] == ["queued"]


async def test_concurrent_approve_reject_approve_of_one_command_have_exactly_one_winner(
    live: Live,
) -> None:
    api = live
    await _users(api, "op2", "op3", "op4")
    c = await _order(api)
    deciders = [("admin", "approve"), ("op2", "reject"), ("op3", "approve"),
                ("sup", "reject"), ("op4", "approve"), ("admin", "reject")]  # fmt: skip
    headers = {u: await api.login(u) for u, _ in deciders}
    answers = await asyncio.gather(
        *[
            api.client.post(f"/api/commands/{c['id']}/{what}", json=OVERRIDE, headers=headers[u])
            for u, what in deciders
        ]
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 409, 409, 409, 409, 409], [r.text for r in answers]
    (winner,) = [r.json() for r in answers if r.status_code == 200]
    losers = [r.json() for r in answers if r.status_code == 409]
    assert {x["code"] for x in losers} == {"error.command_changed"}
    async with session_factory(api.engine)() as s:
        row = await s.get(Command, c["id"])
        assert row is not None
        assert row.state.value == winner["state"]
        decided = (
            await s.scalars(
                select(CommandAudit).where(CommandAudit.event.in_(["approve", "reject"]))
            )
        ).all()
    assert len(decided) == 1  # one decision in the audit trail: the winner's


async def test_concurrent_approve_and_reject_of_one_batch_have_exactly_one_winner(
    live: Live,
) -> None:
    api = live
    await _users(api, "op2", "op3", "op4")
    await set_relay(api.engine, api.world.alice_meter, ON)
    r = await api.client.post(
        "/api/command-batches", headers=await api.login("op"),
        json={"meter_pks": [api.world.alice_meter], "kind": "disconnect", "reason": "campaign",
              "override_reason": "agreed with the district office"},
    )  # fmt: skip
    batch = r.json()
    deciders = [("admin", "approve"), ("op2", "reject"), ("op3", "approve"), ("op4", "reject")]
    headers = {u: await api.login(u) for u, _ in deciders}
    answers = await asyncio.gather(
        *[
            api.client.post(
                f"/api/command-batches/{batch['id']}/{what}", json=OVERRIDE, headers=headers[u]
            )
            for u, what in deciders
        ]
    )
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409], [r.text for r in answers]
    (winner,) = [r.json() for r in answers if r.status_code == 200]
    expected = "queued" if winner["decision"] == "approved" else "rejected"
    assert [c["state"] for c in winner["commands"]] == [expected]
    final = await api.client.get(
        f"/api/command-batches/{batch['id']}", headers=await api.login("sup")
    )
    assert final.json()["decision"] == winner["decision"]
    assert [c["state"] for c in final.json()["commands"]] == [expected]


async def test_two_deciders_who_both_read_the_command_first_cannot_both_win(
    quiet_api: Api,
) -> None:
    """The compare-and-set itself, step by step: both have loaded the command awaiting
    approval; the first decision commits; the second finds the row moved and writes nothing."""
    api = quiet_api
    c = await _order(api)
    sessions = session_factory(api.engine)
    ctx = decisions.Context(api.settings)
    async with sessions() as a, sessions() as b:
        first = await a.get(Command, c["id"])
        second = await b.get(Command, c["id"])
        assert first is not None
        assert second is not None
        assert first.state is second.state is State.AWAITING_APPROVAL
        await decisions.decide_command(a, str(c["id"]), "admin", Role.ADMIN, approve=True,
                                       ctx=ctx, comment="go ahead", override=True)  # fmt: skip
        await a.commit()
        with pytest.raises(service.CommandChanged):
            await service.transition(b, second, decisions.Event.REJECT, "sup", "no")
        await b.rollback()
    async with sessions() as s:
        row = await s.get(Command, c["id"])
        assert row is not None
        assert row.state is State.QUEUED


async def test_a_failed_command_is_retried_once_through_the_same_approval(
    live: Live,
) -> None:
    api = live
    c = await _order(api)
    await api.client.post(
        f"/api/commands/{c['id']}/approve", json=OVERRIDE, headers=await api.login("admin")
    )
    async with session_factory(api.engine)() as s:
        row = await s.get(Command, c["id"])
        assert row is not None
        await service.transition(s, row, decisions.Event.DISPATCH, "test")
        await service.transition(s, row, decisions.Event.FAIL, "test", "meter did not answer")
        await s.commit()
    op = await api.login("op")
    body = {"reason": "meter answers again", "override_reason": "seal broken: safety"}
    answers = await asyncio.gather(
        *[api.client.post(f"/api/commands/{c['id']}/retry", json=body, headers=op)
          for _ in range(4)]
    )  # fmt: skip
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
    (again,) = [r.json() for r in answers if r.status_code == 201]
    assert (again["retry_of"], again["state"], again["kind"]) == (
        c["id"], "awaiting_approval", "disconnect",
    )  # fmt: skip
    queued = await api.client.post(f"/api/commands/{again['id']}/retry", json=body, headers=op)
    assert queued.status_code == 409  # only a failed, expired or refused command


async def test_reconnects_and_reads_by_one_operator_need_no_second_person(
    quiet_api: Api,
) -> None:
    api = quiet_api
    await set_relay(api.engine, api.world.alice_meter, int(RelayState.DISCONNECTED))
    r = await api.client.post(
        "/api/commands", headers=await api.login("op"),
        json={"meter_pk": api.world.alice_meter, "kind": "reconnect", "reason": "paid at counter"},
    )  # fmt: skip
    assert (r.json()["state"], r.json()["approval"]) == ("queued", "none")
