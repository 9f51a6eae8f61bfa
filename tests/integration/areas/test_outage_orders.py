"""An outage found from the meters opens one service-desk work order and a fault notice that
calls from the area link to, and closes them when power is back; a meter's own power-down record
refines what bus silence reported instead of counting twice; areas of one feeder going dark
together are one feeder outage."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import insert, select

from backend.areas.models import AreaSupply
from backend.db import session_factory
from backend.metering.models import MeterEvent
from backend.servicedesk.models import OutageNotice
from backend.servicedesk.orders.models import WorkOrder
from backend.types import from_epoch_ms
from protocols.contract.messages import EventKind
from tests.integration.areas.conftest import Net
from tests.support.readings import ms

T0 = ms(2026, 3, 2, 2)  # 10:00 local on 2 March
HOUR = 3_600_000


async def _record(net: Net, kind: EventKind, ts: int, text: str, *meters: int) -> None:
    async with net.api.engine.begin() as conn:
        await conn.execute(
            insert(MeterEvent),
            [
                {"meter_pk": m, "ts": ts, "kind": kind, "text": text, "received_at": ts}
                for m in meters
            ],
        )


async def _correlate(net: Net, op: dict[str, str]) -> dict[str, Any]:
    r = await net.api.client.post("/api/areas/outages/correlate", headers=op)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _orders(net: Net) -> list[WorkOrder]:
    async with session_factory(net.api.engine)() as s:
        return list(await s.scalars(select(WorkOrder).order_by(WorkOrder.id)))


async def test_an_outage_opens_one_work_order_that_calls_from_the_area_join_and_power_back_closes(
    net: Net,
) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    await net.events(EventKind.POWER_FAILURE, T0, w.alice_meter, net.carol_meter)
    await net.events(EventKind.POWER_FAILURE, T0 + 60_000, w.alice_meter)  # a repeat report
    answers = await asyncio.gather(*(_correlate(net, op) for _ in range(3)))
    assert sum(a["applied"] for a in answers) == 3

    (outage,) = (await api.client.get("/api/areas/outages", headers=op)).json()
    orders = await _orders(net)
    assert [(o.id, o.kind, o.channel, o.node, o.status, o.created_by) for o in orders] == [
        (outage["work_order_id"], "fault", "meters", "dispatch", "open", None)
    ]
    assert outage["fault_notice_id"] == orders[0].outage_id is not None
    assert outage["sources"] == ["bus_silent"]
    detail = await api.client.get(f"/api/servicedesk/orders/{orders[0].id}", headers=op)
    assert detail.status_code == 200, detail.text
    codes = [e["code"] for e in detail.json()["timeline"]]
    assert codes == ["order.created", "order.outage_found"]

    # alice phones 95598: her fault joins the outage, no second crew
    call = await api.client.post(
        "/api/servicedesk/orders",
        json={"kind": "fault", "channel": "phone", "description": "家里停电",
              "customer_id": w.alice},
        headers={**op, "Idempotency-Key": str(uuid.uuid4())},
    )  # fmt: skip
    assert call.status_code == 201, call.text
    assert (call.json()["order"]["outage_id"], call.json()["order"]["node"]) == (
        outage["fault_notice_id"],
        "close",
    )

    # power back: the outage's order closes with the restoration, the notice ends
    await net.events(EventKind.POWER_RESTORED, T0 + HOUR, w.alice_meter, net.carol_meter)
    await _correlate(net, op)
    await _correlate(net, op)
    orders = await _orders(net)
    assert [(o.id, o.status) for o in orders] == [
        (outage["work_order_id"], "closed"),
        (call.json()["order"]["id"], "open"),
    ]
    detail = await api.client.get(f"/api/servicedesk/orders/{orders[0].id}", headers=op)
    last = detail.json()["timeline"][-1]
    assert (last["code"], last["params"]) == (
        "order.power_restored",
        {"outage": outage["id"], "on_at": T0 + HOUR},
    )
    async with session_factory(api.engine)() as s:
        notice = await s.get(OutageNotice, outage["fault_notice_id"])
        assert notice is not None
        assert (notice.kind, notice.ended_at) == ("unplanned", from_epoch_ms(T0 + HOUR))


async def test_a_planned_outage_opens_no_fault_work_order(net: Net) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    notice = await api.client.post("/api/servicedesk/outages", headers=op, json={
        "kind": "planned", "area": "一号台区", "transformer_area_id": w.area1,
        "starts_at": T0 - 60_000, "expected_end_at": T0 + 4 * HOUR, "reason": "检修",
    })  # fmt: skip
    assert notice.status_code == 201, notice.text
    await net.events(EventKind.POWER_FAILURE, T0, w.alice_meter)
    await _correlate(net, op)
    (o,) = (await api.client.get("/api/areas/outages", headers=op)).json()
    assert (o["cause"], o["work_order_id"], o["fault_notice_id"]) == ("planned", None, None)
    assert await _orders(net) == []


async def test_a_meters_own_power_down_record_refines_the_bus_silence_report_and_counts_once(
    net: Net,
) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    # bus silence saw alice's meter go at 10:02 and come back at 11:01 ...
    await _record(net, EventKind.POWER_FAILURE, T0 + 120_000, "bus_silent", w.alice_meter)
    await _correlate(net, op)
    await _record(net, EventKind.POWER_RESTORED, T0 + HOUR + 60_000, "bus_silent", w.alice_meter)
    await _correlate(net, op)
    # ... then the agent read the meter's own record: down 10:00:00, up 11:00:00
    await _record(net, EventKind.POWER_FAILURE, T0, "meter_record", w.alice_meter)
    await _record(net, EventKind.POWER_RESTORED, T0 + HOUR, "meter_record", w.alice_meter)
    assert (await _correlate(net, op))["applied"] == 2
    outages = (await api.client.get("/api/areas/outages", headers=op)).json()
    assert [(o["started_at"], o["ended_at"], o["meters"], o["sources"]) for o in outages] == [
        (T0, T0 + HOUR, 1, ["meter_record"])
    ]
    rel = await api.client.get("/api/areas/reliability?from=2026-03-02&to=2026-03-02", headers=op)
    ta1 = next(r for r in rel.json() if (r["scope"], r["code"]) == ("area", "TA1"))
    assert (ta1["interruptions"], ta1["customer_hours"]) == (1, 1.0)
    assert len(await _orders(net)) == 1


async def test_a_meter_record_of_an_outage_bus_silence_missed_is_an_outage_of_its_own(
    net: Net,
) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    await _record(net, EventKind.POWER_FAILURE, T0, "meter_record", w.alice_meter)
    await _record(net, EventKind.POWER_RESTORED, T0 + HOUR, "meter_record", w.alice_meter)
    await _correlate(net, op)
    outages = (await api.client.get("/api/areas/outages", headers=op)).json()
    assert [(o["started_at"], o["ended_at"], o["sources"]) for o in outages] == [
        (T0, T0 + HOUR, ["meter_record"])
    ]


async def test_areas_of_one_feeder_going_dark_together_are_one_feeder_outage(net: Net) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    async with session_factory(api.engine)() as s:  # TA2 hangs on F1 too
        s.add(AreaSupply(transformer_area_id=w.area2, feeder_id=net.feeder, rated_kva=200))
        await s.commit()
    await net.events(EventKind.POWER_FAILURE, T0, w.alice_meter)
    await net.events(EventKind.POWER_FAILURE, T0 + 90_000, w.bob_meter)
    await _correlate(net, op)
    # an hour later TA1 goes dark again on its own: not part of that feeder outage
    feeders = (await api.client.get("/api/areas/feeder-outages", headers=op)).json()
    assert [(f["feeder_code"], f["started_at"], f["ended_at"]) for f in feeders] == [
        ("F1", T0, None)
    ]
    assert sorted(a["area_code"] for a in feeders[0]["areas"]) == ["TA1", "TA2"]
    assert len(await _orders(net)) == 1  # one crew for the feeder fault

    await net.events(EventKind.POWER_RESTORED, T0 + HOUR, w.alice_meter)
    await _correlate(net, op)
    open_now = (await api.client.get("/api/areas/feeder-outages?open_only=true",
                                     headers=op)).json()  # fmt: skip
    assert len(open_now) == 1
    await net.events(EventKind.POWER_RESTORED, T0 + 2 * HOUR, w.bob_meter)
    await net.events(EventKind.POWER_FAILURE, T0 + 3 * HOUR, w.alice_meter)
    await _correlate(net, op)
    feeders = (await api.client.get("/api/areas/feeder-outages", headers=op)).json()
    assert [(f["started_at"], f["ended_at"], len(f["areas"])) for f in feeders] == [
        (T0, T0 + 2 * HOUR, 2)
    ]
    alone = (await api.client.get("/api/areas/outages?open_only=true", headers=op)).json()
    assert [(o["area_code"], o["feeder_outage_id"]) for o in alone] == [("TA1", None)]


async def test_areas_of_one_feeder_share_one_work_order_closed_when_the_last_area_is_back(
    net: Net,
) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    async with session_factory(api.engine)() as s:  # TA2 hangs on F1 too
        s.add(AreaSupply(transformer_area_id=w.area2, feeder_id=net.feeder, rated_kva=200))
        await s.commit()
    await net.events(EventKind.POWER_FAILURE, T0, w.alice_meter, net.carol_meter)
    await net.events(EventKind.POWER_FAILURE, T0 + 90_000, w.bob_meter)
    answers = await asyncio.gather(*(_correlate(net, op) for _ in range(4)))  # in parallel
    assert sum(a["applied"] for a in answers) == 3

    (order,) = await _orders(net)
    (feeder,) = (await api.client.get("/api/areas/feeder-outages", headers=op)).json()
    by_area = {a["area_code"]: a for a in feeder["areas"]}
    assert feeder["work_order_id"] == order.id
    assert [by_area[c]["work_order_id"] for c in ("TA1", "TA2")] == [order.id, order.id]
    # each area keeps its own fault notice: 95598 calls from either area link to the outage
    notices = {by_area[c]["fault_notice_id"] for c in ("TA1", "TA2")}
    assert len(notices) == 2
    assert None not in notices
    detail = await api.client.get(f"/api/servicedesk/orders/{order.id}", headers=op)
    found = [e["params"] for e in detail.json()["timeline"] if e["code"] == "order.outage_found"]
    assert [(p["outage"], p["off_at"]) for p in found] == [
        (by_area["TA1"]["id"], T0),
        (by_area["TA2"]["id"], T0 + 90_000),
    ]

    # TA1 back first: the feeder's order waits for TA2
    await net.events(EventKind.POWER_RESTORED, T0 + HOUR, w.alice_meter, net.carol_meter)
    await _correlate(net, op)
    assert [o.status for o in await _orders(net)] == ["open"]
    await net.events(EventKind.POWER_RESTORED, T0 + 2 * HOUR, w.bob_meter)
    await asyncio.gather(*(_correlate(net, op) for _ in range(3)))
    assert [(o.id, o.status) for o in await _orders(net)] == [(order.id, "closed")]
    detail = await api.client.get(f"/api/servicedesk/orders/{order.id}", headers=op)
    restored = [e for e in detail.json()["timeline"] if e["code"] == "order.power_restored"]
    assert [e["params"]["on_at"] for e in restored] == [T0 + 2 * HOUR]


async def test_inspectors_and_customers_cannot_list_feeder_outages(net: Net) -> None:
    for user in ("alice", "insp1"):
        r = await net.api.client.get("/api/areas/feeder-outages", headers=await net.api.login(user))
        assert r.status_code == 403


async def test_staff_cannot_take_a_call_on_the_meters_own_channel(net: Net) -> None:
    r = await net.api.client.post(
        "/api/servicedesk/orders",
        json={"kind": "fault", "channel": "meters", "description": "停电"},
        headers={**await net.api.login("op"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert (r.status_code, r.json()["code"]) == (400, "error.invalid_request")
