"""Agents publish only for the meters the registry assigns them, through a real Mosquitto: a
meter of another agent, or of no agent, is a dead letter naming the reason and is not taken
over; an unknown meter becomes pending under the agent that reported it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update

from backend.db import create_engine, session_factory
from backend.metering.ingest import writer
from backend.metering.models import Agent as AgentRow
from backend.metering.models import Meter, MeterStatus
from tests.integration.metering.ingest.conftest import StartIngestor
from tests.support.ingest_agent import T0, Agent, query, scalar, settled, values
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto


async def _register(database_url: str, meter_id: str, agent_id: str | None) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            for agent in ("agent-1", "agent-2"):
                if await s.get(AgentRow, agent) is None:
                    s.add(AgentRow(id=agent, online=False))
            s.add(Meter(meter_id=meter_id, agent_id=agent_id, status=MeterStatus.ACTIVE,
                        installed_on=date(2025, 1, 1)))  # fmt: skip
            await s.commit()
    finally:
        await engine.dispose()


async def test_a_meter_assigned_to_no_agent_is_not_taken_over_by_the_first_that_reports_it(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    await _register(database_url, "registered-unassigned", None)
    ing = await ingestor(database_url)
    agent = Agent(mosquitto, "agent-2")
    try:
        await agent.readings((1, values(["registered-unassigned", "own-new"], T0)))
        await settled(ing, 1)
    finally:
        agent.close()
    assert await query(
        database_url, "SELECT meter_id, agent_id, status FROM meters ORDER BY meter_id"
    ) == [("own-new", "agent-2", "pending"), ("registered-unassigned", None, "active")]
    assert await query(database_url, "SELECT topic, reason FROM dead_letters") == [
        (
            "meterline/v1/agents/agent-2/readings",
            "not stored for agent 'agent-2': meter 'registered-unassigned' is assigned to no agent",
        )
    ]
    stored = await query(
        database_url,
        "SELECT m.meter_id FROM readings r JOIN meters m ON m.id = r.meter_pk",
    )
    assert stored == [("own-new",)]


async def test_a_birth_listing_a_meter_of_another_agent_does_not_move_it(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    await _register(database_url, "theirs", "agent-1")
    ing = await ingestor(database_url)
    agent = Agent(mosquitto, "agent-2")
    try:
        await agent.clear_state()
        await agent.birth(meters=["theirs", "mine"])
        await agent.readings((1, values(["theirs"], T0)))
        await settled(ing, 3)
        await agent.clear_state()
    finally:
        agent.close()
    assert await query(database_url, "SELECT meter_id, agent_id FROM meters ORDER BY 1") == [
        ("mine", "agent-2"),
        ("theirs", "agent-1"),
    ]
    reasons = [r for (r,) in await query(database_url, "SELECT reason FROM dead_letters")]
    assert reasons == [
        "birth of agent 'agent-2' lists meters of others: meter 'theirs' is assigned to agent "
        "'agent-1'",
        "not stored for agent 'agent-2': meter 'theirs' is assigned to agent 'agent-1'",
    ]
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 0


async def test_readings_flow_once_an_operator_assigns_the_meter_to_the_agent(
    database_url: str,
    mosquitto: Mosquitto,
    ingestor: StartIngestor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer, "RECHECK_OWNER_S", 0.0)  # the once-a-minute re-read, at once
    await _register(database_url, "to-assign", None)
    ing = await ingestor(database_url)
    agent = Agent(mosquitto, "agent-1")
    try:
        await agent.readings((1, values(["to-assign"], T0)))
        await settled(ing, 1)
        engine = create_engine(database_url)
        async with session_factory(engine)() as s:
            await s.execute(
                update(Meter).where(Meter.meter_id == "to-assign").values(agent_id="agent-1")
            )
            await s.commit()
        await engine.dispose()
        await agent.readings((2, values(["to-assign"], T0 + 900_000)))
        await settled(ing, 2)
    finally:
        agent.close()
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 1
    assert await scalar(database_url, "SELECT count(*) FROM dead_letters") == 1
