"""Applications for supply over HTTP: documents checked against the type's list, the steps and
their published deadlines under a driven clock, the green channel, scope, and moves that are
compare-and-set."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from litestar.testing import AsyncTestClient

from tests.integration.expansion.conftest import (
    BASE,
    PDF,
    Auth,
    apply,
    attach,
    key,
    move,
    residential,
    surveyed,
)
from tests.integration.servicedesk.conftest import HOUR_MS, NOW_MS, Clock, Desk


def ms(*args: int) -> int:
    """A Shanghai wall-clock time as UTC epoch ms (UTC+8, no DST)."""
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000) - 8 * HOUR_MS


async def test_a_customer_applies_online_and_acceptance_waits_with_the_missing_documents_as_codes(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "cust-new", residential())
    assert (app["channel"], app["step"], app["status"]) == ("pwa", "acceptance", "open")
    assert app["missing_documents"] == ["id_card", "property_proof"]
    assert app["number"] == f"YK{app['id']:08d}"
    # Friday 10:00: one working day → Monday 10:00, shown for every step entered so far
    assert app["step_due_at"] == ms(2026, 11, 23, 10, 0)
    assert [s["key"] for s in app["steps"]] == [
        "acceptance",
        "survey",
        "contract",
        "install",
        "energise",
    ]
    assert app["steps"][0]["due_at"] == app["step_due_at"]
    codes = [e["code"] for e in app["timeline"]]
    assert codes == ["expansion.submitted", "expansion.waiting_documents"]
    assert app["timeline"][1]["params"] == {"missing": "id_card, property_proof"}


async def test_acceptance_refuses_to_move_until_every_required_document_is_attached(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "cust-new", residential())
    r = await client.post(
        f"{BASE}/applications/{app['id']}/advance",
        json={"step": "acceptance", "version": 1},
        headers=auth("op-zhao"),
    )
    assert (r.status_code, r.json()["code"]) == (409, "error.documents_missing")
    assert r.json()["params"] == {"missing": "id_card, property_proof"}
    app = await attach(client, auth, "cust-new", app["id"], "id_card")
    again = await attach(client, auth, "cust-new", app["id"], "id_card")  # a resend: one row
    assert len(again["documents"]) == 1
    app = await attach(
        client, auth, "cust-new", app["id"], "property_proof", PDF, "application/pdf"
    )
    assert app["missing_documents"] == []
    assert {d["content_type"] for d in app["documents"]} == {"image/png", "application/pdf"}
    moved = await move(client, auth, "op-zhao", app)
    assert (moved["step"], moved["version"]) == ("survey", 2)


async def test_a_document_is_judged_by_its_bytes_and_size_before_it_is_stored(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "cust-new", residential())
    url = f"{BASE}/applications/{app['id']}/documents/id_card"
    exe = await client.post(
        url, content=b"MZ\x90\x00" * 10, headers={**auth("cust-new"), "Content-Type": "image/png"}
    )
    assert (exe.status_code, exe.json()["code"]) == (415, "error.document_type_refused")
    big = await client.post(
        url,
        content=b"\x89PNG\r\n\x1a\n" + b"0" * 1_100_000,
        headers={**auth("cust-new"), "Content-Type": "image/png"},
    )
    assert (big.status_code, big.json()["code"]) == (413, "error.document_too_large")
    unknown = await client.post(
        f"{BASE}/applications/{app['id']}/documents/passport", content=PDF, headers=auth("cust-new")
    )
    assert unknown.status_code == 400
    seen = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("cust-new"))).json()
    assert seen["documents"] == []


async def test_a_customer_cannot_read_or_document_another_customers_application(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "cust-new", residential())
    for who in ("cust-zhou", "cust-wang"):
        r = await client.get(f"{BASE}/applications/{app['id']}", headers=auth(who))
        assert (r.status_code, r.json()["code"]) == (404, "error.application_not_found")
        d = await client.post(
            f"{BASE}/applications/{app['id']}/documents/id_card",
            content=PDF,
            headers={**auth(who), "Content-Type": "application/pdf"},
        )
        assert d.status_code == 404
        listed = (await client.get(f"{BASE}/applications", headers=auth(who))).json()
        assert listed["total"] == 0
    mine = (await client.get(f"{BASE}/applications", headers=auth("cust-new"))).json()
    assert [a["id"] for a in mine["items"]] == [app["id"]]


async def test_a_customer_cannot_move_a_step_and_a_customer_manager_sees_only_their_grid(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    north = await apply(
        client, auth, "op-zhao", residential(transformer_area_id=desk.areas["north"])
    )
    south = await apply(
        client, auth, "op-zhao", residential(transformer_area_id=desk.areas["south"])
    )
    r = await client.post(
        f"{BASE}/applications/{north['id']}/advance",
        json={"step": "acceptance", "version": 1},
        headers=auth("cust-new"),
    )
    assert r.status_code == 403
    listed = (await client.get(f"{BASE}/applications", headers=auth("mgr-chen"))).json()
    assert [a["id"] for a in listed["items"]] == [north["id"]]
    other = await client.get(f"{BASE}/applications/{south['id']}", headers=auth("mgr-chen"))
    assert other.status_code == 404
    assert north["channel"] == "counter"
    # the customer manager applies on site only for a place in their grid
    field = await apply(
        client, auth, "mgr-chen", residential(transformer_area_id=desk.areas["north"])
    )
    assert field["channel"] == "field"
    away = await client.post(
        f"{BASE}/applications",
        headers={**auth("mgr-chen"), **key()},
        json=residential(transformer_area_id=desk.areas["south"]),
    )
    assert away.status_code == 400


async def test_two_people_moving_the_same_step_at_once_move_it_once(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    app = await apply(client, auth, "op-zhao", residential(customer_id=desk.customers["zhou"]))
    await attach(client, auth, "op-zhao", app["id"], "id_card")
    app = await attach(client, auth, "op-zhao", app["id"], "property_proof")
    body = {"step": "acceptance", "version": app["version"]}
    url = f"{BASE}/applications/{app['id']}/advance"
    a, b = await asyncio.gather(
        client.post(url, json=body, headers=auth("op-zhao")),
        client.post(url, json=body, headers=auth("op-qian")),
    )
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    loser = a if a.status_code == 409 else b
    assert loser.json()["code"] == "error.application_moved"
    seen = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("op-zhao"))).json()
    assert (seen["step"], seen["version"]) == ("survey", 2)
    assert [e["code"] for e in seen["timeline"]].count("expansion.advanced") == 1


async def test_a_late_step_is_overdue_under_the_clock_and_the_queue_filters_it(
    client: AsyncTestClient, auth: Auth, desk: Desk, clock: Clock
) -> None:
    app = await apply(client, auth, "op-zhao", residential(customer_id=desk.customers["zhou"]))
    assert app["overdue"] is False
    clock.advance(ms(2026, 11, 23, 10, 1) - NOW_MS)  # Monday 10:01, a minute past the limit
    seen = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("op-zhao"))).json()
    assert seen["overdue"] is True
    late = (await client.get(f"{BASE}/applications?overdue=true", headers=auth("op-zhao"))).json()
    assert [a["id"] for a in late["items"]] == [app["id"]]


async def test_a_key_account_goes_in_the_green_channel_with_shorter_deadlines_recorded(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    body = {
        "supply_type": "high_voltage",
        "category": "large_industry",
        "applicant_name": "王建国",
        "phone": "13800001111",
        "address": "文一路 8 号",
        "capacity_kva": 800,
        "customer_id": desk.customers["wang"],
        "kind": "increase",
    }
    app = await apply(client, auth, "op-zhao", body)
    assert app["green_channel"] is True
    assert "expansion.green_channel" in [e["code"] for e in app["timeline"]]
    plan = next(s for s in app["steps"] if s["key"] == "plan")
    assert plan["deadline"] == 7  # the commitment is 10 working days; the green channel's 7
    # 容缺受理: accepted with documents outstanding, and that is recorded
    moved = await move(client, auth, "op-zhao", app)
    assert moved["step"] == "survey"
    incomplete = [e for e in moved["timeline"] if e["code"] == "expansion.accepted_incomplete"]
    assert incomplete[0]["params"]["missing"] == (
        "business_licence, property_proof, authorisation, load_list"
    )
    # survey: two working days for the green channel (three otherwise): Friday 10:00 → Tuesday
    assert moved["step_due_at"] == ms(2026, 11, 24, 10, 0)


async def test_fees_come_only_from_the_published_table_and_cannot_be_sent(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    body = {
        "supply_type": "high_voltage",
        "category": "large_industry",
        "applicant_name": "某厂",
        "phone": "0571-8888888",
        "address": "文一路 99 号",
        "capacity_kva": 630,
        "transformer_area_id": desk.areas["north"],
    }
    forged = await client.post(
        f"{BASE}/applications", headers={**auth("op-zhao"), **key()}, json={**body, "fees_fen": 1}
    )
    assert forged.status_code == 400
    app = await apply(client, auth, "op-zhao", body)
    for kind in ("business_licence", "property_proof", "authorisation", "load_list"):
        app = await attach(client, auth, "op-zhao", app["id"], kind)
    app = await move(client, auth, "op-zhao", app)
    app = await surveyed(client, auth, "mgr-chen", app)
    assert len(app["survey_photos"]) == 1
    assert app["step"] == "plan"
    while app["step"] != "fees":
        app = await move(client, auth, "sup-sun", app)
    assert app["fee_lines"] == [
        {
            "code": "high_reliability",
            "capacity_kva": 630,
            "per_kva_fen": 16000,
            "fixed_fen": 0,
            "amount_fen": 10_080_000,
        }
    ]
    assert app["fees_fen"] == 630 * 16000
    sneaky = await client.post(
        f"{BASE}/applications/{app['id']}/advance",
        json={"step": "fees", "version": app["version"], "fees_fen": 1},
        headers=auth("op-zhao"),
    )
    assert sneaky.status_code == 400
    paid = await move(client, auth, "op-zhao", app)
    assert (paid["step"], paid["fees_fen"]) == ("install", 10_080_000)


async def test_a_customer_cannot_apply_in_another_customers_name(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    body = residential(kind="increase", customer_id=desk.customers["zhou"])
    r = await client.post(f"{BASE}/applications", json=body, headers={**auth("cust-wang"), **key()})
    assert (r.status_code, r.json()["code"]) == (404, "error.customer_not_found")
    listed = (await client.get(f"{BASE}/applications", headers=auth("op-zhao"))).json()
    assert listed["total"] == 0
