"""Energisation (送电): one transaction makes the customer, account, tariff assignment, meter and
placement; energising again, or twice at once, makes nothing twice; a meter the agent already
reports is adopted. And the indicators, against a hand-computed example."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, AccountKind, Customer
from backend.areas.models import MeterPlacement
from backend.auth.models import User
from backend.metering.models import Meter, MeterStatus
from backend.tariffs.models import TariffAssignment
from tests.integration.expansion.conftest import (
    AGENT,
    BASE,
    Auth,
    apply,
    attach,
    energise_body,
    move,
    residential,
    surveyed,
)
from tests.integration.servicedesk.conftest import HOUR_MS, NOW_MS, Clock, Desk


async def at_energise(
    client: AsyncTestClient,
    auth: Auth,
    desk: Desk,
    clock: Clock | None = None,
    hours_per_step: int = 0,
) -> dict[str, Any]:
    """A customer's residential application, moved by staff to its energise step."""
    app = await apply(
        client, auth, "cust-new", residential(transformer_area_id=desk.areas["north"])
    )
    await attach(client, auth, "cust-new", app["id"], "id_card")
    app = await attach(client, auth, "cust-new", app["id"], "property_proof")
    while app["step"] != "energise":
        if clock is not None:
            clock.advance(hours_per_step * HOUR_MS)
        if app["step"] == "survey":
            app = await surveyed(client, auth, "mgr-chen", app)
        else:
            app = await move(client, auth, "op-zhao", app)
    return app


async def counts(session: AsyncSession) -> tuple[int, ...]:
    found = []
    for t in (Customer, Account, TariffAssignment, Meter, MeterPlacement):
        found.append(await session.scalar(select(func.count()).select_from(t)) or 0)
    return tuple(found)


async def test_energising_makes_customer_account_tariff_meter_and_placement_the_customer_sees(
    client: AsyncTestClient, auth: Auth, desk: Desk, session: AsyncSession
) -> None:
    app = await at_energise(client, auth, desk)
    before = await counts(session)
    r = await client.post(
        f"{BASE}/applications/{app['id']}/energise",
        json=energise_body(app),
        headers=auth("mgr-chen"),
    )
    assert r.status_code == 201, r.text
    done = r.json()
    assert (done["status"], done["meter_id"], done["energised_at"]) == (
        "energised",
        "m-999999000001",
        NOW_MS,
    )
    assert await counts(session) == tuple(n + 1 for n in before)
    customer = await session.get(Customer, done["customer_id"])
    account = await session.get(Account, done["account_id"])
    assert customer is not None
    assert account is not None
    assert (customer.number, customer.name, customer.transformer_area_id) == (
        app["number"],
        "林新户",
        desk.areas["north"],
    )
    assert (account.customer_id, account.kind) == (customer.id, AccountKind.PREPAID)
    meter = await session.scalar(select(Meter).where(Meter.meter_id == "m-999999000001"))
    assert meter is not None
    assert (meter.agent_id, meter.protocol, meter.address, meter.status, meter.account_id) == (
        AGENT,
        "dlt645",
        "999999000001",
        MeterStatus.ACTIVE,
        account.id,
    )
    placement = await session.scalar(
        select(MeterPlacement).where(MeterPlacement.meter_pk == meter.id)
    )
    assert placement is not None
    assert placement.transformer_area_id == desk.areas["north"]
    tariff = await session.scalar(
        select(TariffAssignment).where(TariffAssignment.account_id == account.id)
    )
    assert tariff is not None
    assert tariff.schedule == "residential"
    user = await session.get(User, desk.users["cust-new"])
    assert user is not None
    assert user.customer_id == customer.id
    # the applicant now sees the account energisation made
    mine = await client.get(f"/api/accounts/{account.id}", headers=auth("cust-new"))
    assert mine.status_code == 200, mine.text


async def test_energising_twice_and_in_parallel_creates_nothing_twice(
    client: AsyncTestClient, auth: Auth, desk: Desk, session: AsyncSession
) -> None:
    app = await at_energise(client, auth, desk)
    before = await counts(session)
    url = f"{BASE}/applications/{app['id']}/energise"
    a, b = await asyncio.gather(
        client.post(url, json=energise_body(app), headers=auth("mgr-chen")),
        client.post(url, json=energise_body(app), headers=auth("op-zhao")),
    )
    assert sorted([a.status_code, b.status_code]) == [200, 201]
    assert a.json()["account_id"] == b.json()["account_id"]
    again = await client.post(url, json=energise_body(app), headers=auth("op-zhao"))
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert await counts(session) == tuple(n + 1 for n in before)
    seen = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("cust-new"))).json()
    assert [e["code"] for e in seen["timeline"]].count("expansion.energised") == 1


async def test_a_meter_the_agent_already_reports_is_adopted_and_a_customers_meter_is_refused(
    client: AsyncTestClient, auth: Auth, desk: Desk, session: AsyncSession
) -> None:
    session.add(Meter(meter_id="m-999999000001", status=MeterStatus.PENDING, agent_id=AGENT))
    session.add(
        Meter(meter_id="m-taken", status=MeterStatus.ACTIVE, customer_id=desk.customers["zhou"])
    )
    await session.commit()
    app = await at_energise(client, auth, desk)
    url = f"{BASE}/applications/{app['id']}/energise"
    taken = await client.post(
        url, json=energise_body(app, meter_id="m-taken"), headers=auth("mgr-chen")
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "error.meter_id_taken")
    still = (await client.get(f"{BASE}/applications/{app['id']}", headers=auth("mgr-chen"))).json()
    assert (still["status"], still["account_id"]) == ("open", None)  # nothing of it stayed
    ok = await client.post(url, json=energise_body(app), headers=auth("mgr-chen"))
    assert ok.status_code == 201, ok.text
    pending = await session.scalar(
        select(func.count()).select_from(Meter).where(Meter.meter_id == "m-999999000001")
    )
    assert pending == 1


async def test_energise_refuses_a_step_not_reached_and_an_unknown_agent(
    client: AsyncTestClient, auth: Auth, desk: Desk
) -> None:
    early = await apply(
        client, auth, "cust-new", residential(transformer_area_id=desk.areas["north"])
    )
    r = await client.post(
        f"{BASE}/applications/{early['id']}/energise",
        json=energise_body(early),
        headers=auth("mgr-chen"),
    )
    assert (r.status_code, r.json()["code"]) == (409, "error.application_moved")
    app = await at_energise(client, auth, desk)
    r = await client.post(
        f"{BASE}/applications/{app['id']}/energise",
        json=energise_body(app, agent_id="nobody"),
        headers=auth("mgr-chen"),
    )
    assert (r.status_code, r.json()["code"]) == (400, "error.agent_not_found")
    r = await client.post(
        f"{BASE}/applications/{app['id']}/advance",
        json={"step": "energise", "version": app["version"]},
        headers=auth("mgr-chen"),
    )
    assert (r.status_code, r.json()["code"]) == (409, "error.step_needs_its_action")


async def test_indicators_match_a_hand_computed_example(
    client: AsyncTestClient, auth: Auth, desk: Desk, clock: Clock
) -> None:
    """Applied Friday 10:00; each step done 2 h after the last (all in the working day):
    acceptance 10:00→12:00, survey →14:00, contract →16:00, install →18:00 (Friday), energised
    Friday 20:00. Every step is due a working day after it began, so all four are on time and
    energise (due Monday) too: 5 of 5. Lead per step 2 h; application to energisation 10 h.
    A second application, still in acceptance, counts as applied and not energised."""
    app = await at_energise(client, auth, desk, clock, hours_per_step=2)
    clock.advance(2 * HOUR_MS)
    r = await client.post(
        f"{BASE}/applications/{app['id']}/energise",
        json=energise_body(app),
        headers=auth("mgr-chen"),
    )
    assert r.status_code == 201
    await apply(client, auth, "op-zhao", residential(customer_id=desk.customers["zhou"]))
    figures = (await client.get(f"{BASE}/indicators", headers=auth("sup-sun"))).json()
    res = next(t for t in figures["types"] if t["supply_type"] == "residential")
    assert res == {
        "supply_type": "residential",
        "applications": 2,
        "energised": 1,
        "mean_to_energise_ms": 10 * HOUR_MS,
        "steps_finished": 5,
        "steps_on_time": 5,
        "on_time_rate": 1.0,
    }
    steps = {s["step"]: s for s in figures["steps"] if s["supply_type"] == "residential"}
    assert {k: (s["finished"], s["mean_lead_ms"]) for k, s in steps.items()} == {
        "acceptance": (1, 2 * HOUR_MS),
        "survey": (1, 2 * HOUR_MS),
        "contract": (1, 2 * HOUR_MS),
        "install": (1, 2 * HOUR_MS),
        "energise": (1, 2 * HOUR_MS),
    }
    hv = next(t for t in figures["types"] if t["supply_type"] == "high_voltage")
    assert (hv["applications"], hv["on_time_rate"], hv["mean_to_energise_ms"]) == (0, None, None)
    denied = await client.get(f"{BASE}/indicators", headers=auth("cust-new"))
    assert denied.status_code == 403


async def test_indicators_refuse_a_time_beyond_the_contracts_range_with_400(
    client: AsyncTestClient, auth: Auth
) -> None:
    """A time past 9999-12-31 or before 1970 is the caller's error, named, not a 500."""
    for query in ("from_ms=100000000000000000000", "to_ms=-1", "from_ms=253402300800000"):
        r = await client.get(f"{BASE}/indicators?{query}", headers=auth("sup-sun"))
        assert r.status_code == 400, (query, r.text)
