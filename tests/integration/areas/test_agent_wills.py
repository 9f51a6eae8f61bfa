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
from sqlalchemy import select, update

from backend.areas.models import AgentWill, AreaSupply
from backend.db import session_factory
from backend.metering.models import Agent as AgentRow
from backend.metering.models import Meter
from protocols.contract import AgentDeath, EventKind, Quantity, Value
from tests.integration.areas.conftest import Net
from tests.integration.metering.ingest.conftest import StartIngestor, ingestor
from tests.support.ingest_agent import Agent, until
from tests.support.services import Mosquitto

__all__ = ["ingestor"]
pytestmark = pytest.mark.mosquitto
MINUTE = 60_000


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
    # a suspicion tells no one: bob heard nothing, alice was told
    bob = (await api.client.get("/api/areas/outages/mine", headers=await api.login("bob"))).json()
    assert [o["notices"] for o in bob] == [[]]
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
    finally:
        gone.c.loop_stop()
        cleaner = Agent(mosquitto, "agent-2")
        await cleaner.clear_state()
        cleaner.close()
