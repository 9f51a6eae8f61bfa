"""Outages found from the meters' power events: one per area, exactly the affected customers
told, closed when power is back; reliability from them."""

from __future__ import annotations

import asyncio

from protocols.contract.messages import EventKind
from tests.integration.areas.conftest import Net
from tests.support.readings import ms

T0 = ms(2026, 3, 2, 2)  # 10:00 local on 2 March


async def test_many_meters_going_dark_in_one_area_are_one_outage_told_to_exactly_those_customers(
    net: Net,
) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    # the total meter, alice's and carol's go dark; dan's (another phase) and bob's stay on
    await net.events(EventKind.POWER_FAILURE, T0, net.total, w.alice_meter)
    await net.events(EventKind.POWER_FAILURE, T0, net.carol_meter)
    r = await api.client.post("/api/areas/outages/correlate", headers=op)
    assert r.json() == {"applied": 3}
    outages = (await api.client.get("/api/areas/outages?open_only=true", headers=op)).json()
    assert [(o["area_code"], o["meters"], o["meters_off"], o["customers"], o["cause"])
            for o in outages] == [("TA1", 3, 3, 2, "unplanned")]  # fmt: skip
    assert outages[0]["started_at"] == T0
    areas = (await api.client.get("/api/areas", headers=op)).json()
    assert [(a["code"], a["outage"] is not None, a["feeder_code"]) for a in areas] == [
        ("TA1", True, "F1"), ("TA2", False, None),
    ]  # fmt: skip

    alice = await api.client.get("/api/areas/outages/mine", headers=await api.login("alice"))
    assert [(o["off_at"], o["on_at"], [n["code"] for n in o["notices"]]) for o in alice.json()] == [
        (T0, None, ["notice.area.outage_off"])
    ]
    assert alice.json()[0]["notices"][0]["params"] == {"area": "一号台区", "off_at": T0}
    bob = await api.client.get("/api/areas/outages/mine", headers=await api.login("bob"))
    assert bob.json() == []
    told = await _told(net)
    assert told == {(w.alice, "off"), (net.carol, "off")}

    # power comes back meter by meter; the outage ends with the last one
    await net.events(EventKind.POWER_RESTORED, T0 + 3_600_000, net.total, w.alice_meter)
    await api.client.post("/api/areas/outages/correlate", headers=op)
    still = (await api.client.get("/api/areas/outages?open_only=true", headers=op)).json()
    assert [o["meters_off"] for o in still] == [1]
    await net.events(EventKind.POWER_RESTORED, T0 + 7_200_000, net.carol_meter)
    await api.client.post("/api/areas/outages/correlate", headers=op)
    done = (await api.client.get("/api/areas/outages", headers=op)).json()
    assert [(o["ended_at"], o["meters_off"]) for o in done] == [(T0 + 7_200_000, 0)]
    assert await _told(net) == {(w.alice, "off"), (net.carol, "off"), (w.alice, "on"),
                                (net.carol, "on")}  # fmt: skip

    # reliability of 2 March: TA1 serves alice, carol and dan; alice out 1 h, carol 2 h
    rel = (await api.client.get("/api/areas/reliability?from=2026-03-02&to=2026-03-02",
                                headers=op)).json()  # fmt: skip
    by = {(r["scope"], r["code"]): r for r in rel}
    ta1 = by[("area", "TA1")]
    assert (ta1["customers"], ta1["interruptions"], ta1["customer_hours"]) == (3, 2, 3.0)
    assert (ta1["saifi"], ta1["saidi_hours"]) == (0.6667, 1.0)
    assert ta1["rs1"] == round(1 - 1 / 24, 6)
    assert by[("feeder", "F1")]["customer_hours"] == 3.0
    assert by[("area", "TA2")]["saifi"] == 0.0


async def test_the_same_events_correlated_twice_and_in_parallel_count_once(net: Net) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    await net.events(EventKind.POWER_FAILURE, T0, w.alice_meter, net.carol_meter)
    await net.events(EventKind.POWER_FAILURE, T0 + 60_000, w.alice_meter)  # a repeat report
    answers = await asyncio.gather(
        *(api.client.post("/api/areas/outages/correlate", headers=op) for _ in range(3))
    )
    assert sorted(r.json()["applied"] for r in answers)[-1] == 3
    assert sum(r.json()["applied"] for r in answers) == 3
    again = await api.client.post("/api/areas/outages/correlate", headers=op)
    assert again.json() == {"applied": 0}
    outages = (await api.client.get("/api/areas/outages", headers=op)).json()
    assert [(o["meters"], o["customers"]) for o in outages] == [(2, 2)]
    assert await _told(net) == {(w.alice, "off"), (net.carol, "off")}


async def test_an_outage_inside_a_planned_notice_is_that_planned_outage(net: Net) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    notice = await api.client.post("/api/servicedesk/outages", headers=op, json={
        "kind": "planned", "area": "一号台区", "transformer_area_id": w.area1,
        "starts_at": T0 - 60_000, "expected_end_at": T0 + 4 * 3_600_000, "reason": "检修",
    })  # fmt: skip
    assert notice.status_code == 201, notice.text
    await net.events(EventKind.POWER_FAILURE, T0, w.alice_meter)
    await api.client.post("/api/areas/outages/correlate", headers=op)
    (o,) = (await api.client.get("/api/areas/outages", headers=op)).json()
    assert (o["cause"], o["notice_id"]) == ("planned", notice.json()["id"])
    (mine,) = (await api.client.get("/api/areas/outages/mine",
                                    headers=await api.login("alice"))).json()  # fmt: skip
    assert mine["expected_end_at"] == T0 + 4 * 3_600_000
    assert mine["notices"][0]["code"] == "notice.area.outage_off_planned"


async def test_customers_and_inspectors_cannot_see_the_operators_area_views(net: Net) -> None:
    for user in ("alice", "insp1"):
        h = await net.api.login(user)
        assert (await net.api.client.get("/api/areas", headers=h)).status_code == 403
        r = await net.api.client.post("/api/areas/outages/correlate", headers=h)
        assert r.status_code == 403
    op = await net.api.login("op")
    assert (await net.api.client.get("/api/areas/outages/mine", headers=op)).status_code == 403


async def _told(net: Net) -> set[tuple[int, str]]:
    from sqlalchemy import select

    from backend.areas.models import OutageCustomerNotice
    from backend.db import session_factory

    async with session_factory(net.api.engine)() as s:
        rows = await s.execute(select(OutageCustomerNotice.customer_id, OutageCustomerNotice.kind))
        return {(c, str(k)) for c, k in rows.all()}
