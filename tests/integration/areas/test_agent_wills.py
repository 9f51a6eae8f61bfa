"""An agent's last will as an outage signal, through the real Mosquitto and ingestion: an agent
dropped without DISCONNECT (the broker publishes its will) while its feeder's other area goes
dark joins the feeder outage as a suspected part that tells no one; alone it opens nothing and
its meters show as unknown; when it is back and its meters report, the suspicion ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from backend.areas.models import AgentWill, AreaSupply
from backend.db import session_factory
from backend.metering.models import Agent as AgentRow
from backend.metering.models import Meter, Reading
from backend.types import from_epoch_ms
from protocols.contract import AgentDeath, EventKind, Quantity, Value
from tests.integration.areas.conftest import Net
from tests.integration.areas.test_outage_orders import _record
from tests.integration.metering.ingest.conftest import StartIngestor, ingestor
from tests.support.ingest_agent import Agent, settled, until
from tests.support.services import Mosquitto

__all__ = ["ingestor"]
pytestmark = pytest.mark.mosquitto
MINUTE = 60_000
HOUR = 60 * MINUTE


@pytest.fixture
def clock(net: Net) -> Iterator[list[float]]:
    """The server's clock, pinned (seconds); a test moves it past the correlation window."""
    now = [time.time()]
    state = net.api.client.app.state
    state.clock = lambda: now[0]
    try:
        yield now
    finally:
        state.clock = None


async def _correlate(net: Net, op: dict[str, str]) -> dict[str, Any]:
    r = await net.api.client.post("/api/areas/outages/correlate", headers=op)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _agent_row(net: Net) -> AgentRow | None:
    async with session_factory(net.api.engine)() as s:
        return await s.get(AgentRow, "agent-2")


async def _second_agent(net: Net) -> None:
    """Bob's meter (area TA2) is read by agent-2; TA2 hangs on feeder F1 beside TA1."""
    w = net.api.world
    async with session_factory(net.api.engine)() as s:
        s.add(AgentRow(id="agent-2", online=False))
        s.add(AreaSupply(transformer_area_id=w.area2, feeder_id=net.feeder, rated_kva=200))
        await s.flush()
        await s.execute(update(Meter).where(Meter.id == w.bob_meter).values(agent_id="agent-2"))
        await s.commit()


async def _vanish(mosquitto: Mosquitto, net: Net, ingestor: StartIngestor) -> tuple[Agent, int]:
    """agent-2 is born, then its connection drops without DISCONNECT so the broker publishes
    its will; returns once ingestion marked it dead, with the moment (epoch ms)."""
    clean = Agent(mosquitto, "agent-2")
    await clean.clear_state()
    clean.close()
    await ingestor(net.api.settings.database_url)
    agent = Agent(mosquitto, "agent-2", will=AgentDeath(agent="agent-2", ts=1))
    await agent.birth(ts=int(time.time() * 1000), meters=["M-BOB"])

    async def online() -> bool:
        row = await _agent_row(net)
        return row is not None and row.online

    async def dead() -> bool:
        row = await _agent_row(net)
        return row is not None and not row.online and row.died_at is not None

    await until(online, 20, "agent-2's birth")
    agent.vanish()
    await until(dead, 20, "agent-2's last will")
    row = await _agent_row(net)
    assert row is not None
    assert row.died_at is not None
    return agent, int(row.died_at.timestamp() * 1000)


async def _wills(net: Net) -> list[tuple[str, str]]:
    async with session_factory(net.api.engine)() as s:
        return [(w.agent_id, w.state.value) for w in await s.scalars(select(AgentWill))]


async def test_an_agents_last_will_beside_a_dark_area_of_its_feeder_joins_the_outage_suspected(
    net: Net, mosquitto: Mosquitto, ingestor: StartIngestor, clock: list[float]
) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    await _second_agent(net)
    gone, died = await _vanish(mosquitto, net, ingestor)
    clock[0] = died / 1000 + 30
    # TA1's bus goes silent a minute before agent-2 (TA2) vanished: one feeder fault, likely
    await net.events(EventKind.POWER_FAILURE, died - MINUTE, w.alice_meter, net.carol_meter)
    assert await _correlate(net, op) == {"applied": 2}

    (feeder,) = (await api.client.get("/api/areas/feeder-outages", headers=op)).json()
    by_area = {a["area_code"]: a for a in feeder["areas"]}
    assert (by_area["TA2"]["sources"], by_area["TA2"]["suspected"]) == (["last_will"], True)
    assert (by_area["TA1"]["sources"], by_area["TA1"]["suspected"]) == (["bus_silent"], False)
    assert by_area["TA2"]["started_at"] == died
    assert by_area["TA2"]["work_order_id"] == feeder["work_order_id"] is not None  # one crew
    assert await _wills(net) == [("agent-2", "joined")]
    # a suspicion tells no one: bob hears and sees nothing yet, alice was told
    bob = (await api.client.get("/api/areas/outages/mine", headers=await api.login("bob"))).json()
    assert bob == []
    alice = await api.client.get("/api/areas/outages/mine", headers=await api.login("alice"))
    assert [n["code"] for n in alice.json()[0]["notices"]] == ["notice.area.outage_off"]
    areas = {a["code"]: a for a in (await api.client.get("/api/areas", headers=op)).json()}
    assert (areas["TA2"]["unknown_meters"], areas["TA1"]["unknown_meters"]) == (1, 0)

    # the same round again, and again in parallel: nothing moves twice
    await asyncio.gather(*(_correlate(net, op) for _ in range(3)))
    assert await _wills(net) == [("agent-2", "joined")]
    outages = (await api.client.get("/api/areas/outages", headers=op)).json()
    assert sorted((o["area_code"], o["meters"]) for o in outages) == [("TA1", 2), ("TA2", 1)]

    # agent-2 is back and bob's meter reports: the suspected part ends at that reading
    gone.c.loop_stop()
    back = Agent(mosquitto, "agent-2")
    try:
        await back.birth(ts=int(time.time() * 1000), meters=["M-BOB"])
        seen = died + 5 * MINUTE
        await back.readings((1, [Value("M-BOB", seen, Quantity.ENERGY_IMPORT, 1_000)]))

        async def reported() -> bool:
            async with session_factory(api.engine)() as s:
                m = await s.get(Meter, w.bob_meter, populate_existing=True)
                return m is not None and m.last_seen_at is not None

        await until(reported, 20, "bob's reading")
        clock[0] = seen / 1000 + 60
        await _correlate(net, op)
        await back.clear_state()
    finally:
        back.close()
    outages = (await api.client.get("/api/areas/outages", headers=op)).json()
    ta2 = next(o for o in outages if o["area_code"] == "TA2")
    assert (ta2["ended_at"], ta2["meters_off"]) == (seen, 0)
    assert await _wills(net) == [("agent-2", "back")]
    assert [o["ended_at"] for o in outages if o["area_code"] == "TA1"] == [None]
    (feeder,) = (await api.client.get("/api/areas/feeder-outages", headers=op)).json()
    assert feeder["ended_at"] is None  # TA1 is still dark: the feeder's order stays open


async def test_a_lone_agents_last_will_opens_no_outage_and_its_meters_are_unknown(
    net: Net, mosquitto: Mosquitto, ingestor: StartIngestor, clock: list[float]
) -> None:
    api = net.api
    op = await api.login("op")
    await _second_agent(net)
    gone, died = await _vanish(mosquitto, net, ingestor)
    try:
        clock[0] = died / 1000 + 60
        await _correlate(net, op)
        assert await _wills(net) == [("agent-2", "pending")]  # evidence may still come
        clock[0] = died / 1000 + 6 * 60  # past the window, nothing else went dark
        await _correlate(net, op)
        assert await _wills(net) == [("agent-2", "lone")]
        assert (await api.client.get("/api/areas/outages", headers=op)).json() == []
        areas = {a["code"]: a for a in (await api.client.get("/api/areas", headers=op)).json()}
        assert (areas["TA2"]["unknown_meters"], areas["TA2"]["outage"]) == (1, None)
        # another ingestion process reads the retained will again: the same death, not a new one
        again = await ingestor(api.settings.database_url)
        await settled(again, 1)
        row = await _agent_row(net)
        assert row is not None
        assert row.died_at is not None
        assert int(row.died_at.timestamp() * 1000) == died
        await _correlate(net, op)
        assert await _wills(net) == [("agent-2", "lone")]
    finally:
        gone.c.loop_stop()
        cleaner = Agent(mosquitto, "agent-2")
        await cleaner.clear_state()
        cleaner.close()


async def _died(net: Net, at_ms: int) -> None:
    """What ingestion records when agent-2's will arrives while it is online."""
    async with session_factory(net.api.engine)() as s:
        row = await s.get(AgentRow, "agent-2")
        assert row is not None
        row.online, row.died_at = False, from_epoch_ms(at_ms)
        await s.commit()


async def _born(net: Net, at_ms: int) -> None:
    async with session_factory(net.api.engine)() as s:
        row = await s.get(AgentRow, "agent-2")
        assert row is not None
        row.online, row.last_birth_at = True, from_epoch_ms(at_ms)
        await s.commit()


async def _reading(net: Net, meter_pk: int, ts: int) -> None:
    async with net.api.engine.begin() as conn:
        await conn.execute(
            insert(Reading),
            [
                {
                    "meter_pk": meter_pk,
                    "quantity": "energy_import",
                    "ts": ts,
                    "value": 1_000,
                    "received_at": ts,
                }
            ],
        )


async def test_the_meters_own_records_refine_a_suspected_part_to_the_meters_clock(
    net: Net, clock: list[float]
) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    await _second_agent(net)
    died = int(time.time() * 1000) - 30 * MINUTE
    clock[0] = died / 1000 + 60
    await net.events(EventKind.POWER_FAILURE, died - MINUTE, w.alice_meter)
    await _died(net, died)
    await _correlate(net, op)
    assert await _wills(net) == [("agent-2", "joined")]

    # agent-2 back 20 minutes later; bob's meter reports: the suspicion ends at that reading
    await _born(net, died + 20 * MINUTE)
    await _reading(net, w.bob_meter, died + 20 * MINUTE + 5_000)
    clock[0] = died / 1000 + 21 * 60
    await _correlate(net, op)
    # then the meter's own record: dark from 40 s before the will, back after 7 minutes
    cut, back = died - 40_000, died + 7 * MINUTE
    await _record(net, EventKind.POWER_FAILURE, cut, "meter_record", w.bob_meter)
    await _record(net, EventKind.POWER_RESTORED, back, "meter_record", w.bob_meter)
    await _correlate(net, op)
    (ta2,) = [o for o in (await api.client.get("/api/areas/outages", headers=op)).json()
              if o["area_code"] == "TA2"]  # fmt: skip
    assert (ta2["started_at"], ta2["ended_at"], ta2["meters"]) == (cut, back, 1)
    assert (ta2["sources"], ta2["suspected"]) == (["meter_record"], False)
    assert await _wills(net) == [("agent-2", "back")]


async def test_bus_silence_confirms_a_suspected_part_and_tells_the_customer(
    net: Net, clock: list[float]
) -> None:
    api, w = net.api, net.api.world
    op = await api.login("op")
    await _second_agent(net)
    died = int(time.time() * 1000) - 30 * MINUTE
    clock[0] = died / 1000 + 60
    await net.events(EventKind.POWER_FAILURE, died, w.alice_meter)
    await _died(net, died)
    await _correlate(net, op)
    bob = await api.login("bob")
    assert (await api.client.get("/api/areas/outages/mine", headers=bob)).json() == []
    # agent-2 back while the feeder is still dark: its bus is silent, the suspicion is seen
    await _born(net, died + 10 * MINUTE)
    await net.events(EventKind.POWER_FAILURE, died + 10 * MINUTE, w.bob_meter)
    await _correlate(net, op)
    (mine,) = (await api.client.get("/api/areas/outages/mine", headers=bob)).json()
    assert [n["code"] for n in mine["notices"]] == ["notice.area.outage_off"]
    assert mine["expected_end_at"] == died + 4 * HOUR  # the fault notice's estimate
    await net.events(EventKind.POWER_RESTORED, died + HOUR, w.bob_meter, w.alice_meter)
    await _correlate(net, op)
    (mine,) = (await api.client.get("/api/areas/outages/mine", headers=bob)).json()
    assert [n["code"] for n in mine["notices"]] == [
        "notice.area.outage_off",
        "notice.area.outage_on",
    ]
    assert mine["on_at"] == died + HOUR
    (feeder,) = (await api.client.get("/api/areas/feeder-outages", headers=op)).json()
    assert feeder["ended_at"] == died + HOUR
