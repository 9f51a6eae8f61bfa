"""Withdrawing an application (撤回) over HTTP: the customer their own or staff in scope, before
energisation, with a reason code; once, however often it is asked; never together with a move."""

from __future__ import annotations

import asyncio

from litestar.testing import AsyncTestClient

from tests.integration.expansion.conftest import (
    BASE,
    PDF,
    Auth,
    apply,
    attach,
    energise_body,
    move,
    residential,
)
from tests.integration.expansion.test_energise import at_energise
from tests.integration.servicedesk.conftest import Desk


def url(app_id: int) -> str:
    return f"{BASE}/applications/{app_id}/withdraw"


async def test_a_customer_withdraws_their_own_application_once_with_the_reason_as_a_code(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "cust-new", residential())
    body = {"version": app["version"], "reason": "customer_request"}
    first = await client.post(url(app["id"]), json=body, headers=auth("cust-new"))
    assert first.status_code == 200, first.text
    assert first.headers["Idempotent-Replayed"] == "false"
    assert first.json()["status"] == "cancelled"
    again = await client.post(url(app["id"]), json=body, headers=auth("cust-new"))
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    seen = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("cust-new"))).json()
    cancelled = [e for e in seen["timeline"] if e["code"] == "expansion.cancelled"]
    assert [e["params"] for e in cancelled] == [{"reason": "customer_request"}]
    assert seen["version"] == app["version"] + 1


async def test_another_customers_application_cannot_be_withdrawn_and_answers_404(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "cust-new", residential())
    body = {"version": app["version"], "reason": "customer_request"}
    for who in ("cust-zhou", "cust-wang"):
        r = await client.post(url(app["id"]), json=body, headers=auth(who))
        assert (r.status_code, r.json()["code"]) == (404, "error.application_not_found")
    seen = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("cust-new"))).json()
    assert seen["status"] == "open"


async def test_a_withdrawal_needs_a_known_reason_code_and_the_version_seen(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "op-zhao", residential(customer_id=desk.customers["zhou"]))
    bad = await client.post(
        url(app["id"]), json={"version": 1, "reason": "because"}, headers=auth("op-zhao")
    )
    assert bad.status_code == 400
    missing = await client.post(url(app["id"]), json={"version": 1}, headers=auth("op-zhao"))
    assert missing.status_code == 400
    stale = await client.post(
        url(app["id"]), json={"version": 7, "reason": "duplicate"}, headers=auth("op-zhao")
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "error.application_moved")


async def test_a_withdrawn_application_takes_no_more_steps_documents_or_energisation(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "op-zhao", residential(customer_id=desk.customers["zhou"]))
    await attach(client, auth, "op-zhao", app["id"], "id_card")
    app = await attach(client, auth, "op-zhao", app["id"], "property_proof")
    app = await move(client, auth, "op-zhao", app)  # at the survey now
    r = await client.post(
        url(app["id"]),
        json={"version": app["version"], "reason": "not_feasible"},
        headers=auth("op-zhao"),
    )
    assert r.status_code == 200, r.text
    gone = r.json()
    refused = [
        await client.post(
            f"{BASE}/applications/{app['id']}/advance",
            json={"step": gone["step"], "version": gone["version"]},
            headers=auth("op-zhao"),
        ),
        await client.post(
            f"{BASE}/applications/{app['id']}/documents/load_list",
            content=PDF,
            headers={**auth("op-zhao"), "Content-Type": "application/pdf"},
        ),
        await client.post(
            f"{BASE}/applications/{app['id']}/energise",
            json={"version": gone["version"], "meter_id": "m-1", "protocol": "dlt645"},
            headers=auth("op-zhao"),
        ),
    ]
    assert [(x.status_code, x.json()["code"]) for x in refused] == [
        (409, "error.application_withdrawn")
    ] * 3
    seen = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("op-zhao"))).json()
    assert (seen["status"], seen["step"], seen["version"]) == (
        "cancelled",
        "survey",
        gone["version"],
    )
    # the survey's stay is no lead time: it never finished
    assert [s["key"] for s in seen["steps"] if s["finished_at"] is not None] == ["acceptance"]


async def test_an_energised_application_cannot_be_withdrawn(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await at_energise(client, auth, desk)
    e = await client.post(
        f"{BASE}/applications/{app['id']}/energise",
        json=energise_body(app),
        headers=auth("mgr-chen"),
    )
    assert e.status_code == 201, e.text
    r = await client.post(
        url(app["id"]),
        json={"version": e.json()["version"], "reason": "customer_request"},
        headers=auth("op-zhao"),
    )
    assert (r.status_code, r.json()["code"]) == (409, "error.application_closed")


async def test_a_withdrawal_and_a_move_at_the_same_time_one_wins_and_the_other_hears_409(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "op-zhao", residential(customer_id=desk.customers["zhou"]))
    await attach(client, auth, "op-zhao", app["id"], "id_card")
    app = await attach(client, auth, "op-zhao", app["id"], "property_proof")
    moved, withdrawn = await asyncio.gather(
        client.post(
            f"{BASE}/applications/{app['id']}/advance",
            json={"step": "acceptance", "version": app["version"]},
            headers=auth("op-qian"),
        ),
        client.post(
            url(app["id"]),
            json={"version": app["version"], "reason": "duplicate"},
            headers=auth("op-zhao"),
        ),
    )
    assert sorted([moved.status_code, withdrawn.status_code]) == [200, 409]
    seen = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("op-zhao"))).json()
    codes = [e["code"] for e in seen["timeline"]]
    assert codes.count("expansion.advanced") + codes.count("expansion.cancelled") == 1
    assert seen["version"] == app["version"] + 1
    assert (seen["status"], seen["step"]) in {("cancelled", "acceptance"), ("open", "survey")}
    assert (seen["status"] == "cancelled") == (withdrawn.status_code == 200)
    loser = moved if moved.status_code == 409 else withdrawn
    assert loser.json()["code"] in {"error.application_moved", "error.application_withdrawn"}


async def test_two_withdrawals_at_the_same_time_withdraw_once(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "cust-new", residential())
    body = {"version": app["version"], "reason": "customer_request"}
    a, b = await asyncio.gather(
        client.post(url(app["id"]), json=body, headers=auth("cust-new")),
        client.post(url(app["id"]), json=body, headers=auth("cust-new")),
    )
    assert (a.status_code, b.status_code) == (200, 200)
    assert sorted([a.headers["Idempotent-Replayed"], b.headers["Idempotent-Replayed"]]) == [
        "false",
        "true",
    ]
    seen = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("cust-new"))).json()
    assert [e["code"] for e in seen["timeline"]].count("expansion.cancelled") == 1
