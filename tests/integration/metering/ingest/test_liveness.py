"""Agent birth, death and last will; meter events, relay state, online and staleness; /health."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.db import create_engine
from protocols.contract import (
    AgentDeath,
    EventKind,
    MeterEvent,
    Quality,
    Quantity,
    RelayState,
    Value,
)
from tests.integration.metering.ingest.conftest import StartIngestor
from tests.support.ingest_agent import (
    T0,
    Agent,
    forget_session,
    query,
    settings_for,
    settled,
    until,
    values,
)
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto
AGENT = "SELECT online, version FROM agents WHERE id = 'agent-1'"


async def test_birth_sets_an_agent_online_and_its_last_will_sets_it_offline(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    cleaner = Agent(mosquitto)
    await cleaner.clear_state()
    cleaner.close()
    ing = await ingestor(database_url)
    agent = Agent(mosquitto, will=AgentDeath(agent="agent-1", ts=T0))
    await agent.birth(ts=T0 + 1, version="2.1.0", meters=["m1", "m2"])
    await settled(ing, 1)
    assert await query(database_url, AGENT) == [(True, "2.1.0")]
    assert await query(
        database_url, "SELECT meter_id, status, protocol, address FROM meters ORDER BY meter_id"
    ) == [("m1", "pending", "dlt645", "000000000000"), ("m2", "pending", "dlt645", "000000000001")]

    agent.vanish()  # no DISCONNECT: the broker publishes the will
    await settled(ing, 2)
    assert await query(database_url, AGENT) == [(False, "2.1.0")]

    # a stale retained birth (older than the one applied) changes nothing
    again = Agent(mosquitto)
    try:
        await again.birth(ts=T0 - 1, version="1.0.0")
        await settled(ing, 3)
        assert await query(database_url, AGENT) == [(False, "2.1.0")]
        await again.birth(ts=T0 + 2, version="2.2.0")
        await settled(ing, 4)
        assert await query(database_url, AGENT) == [(True, "2.2.0")]
        await again.clear_state()
    finally:
        again.close()


async def test_the_retained_state_of_an_agent_is_applied_when_ingestion_starts(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    agent = Agent(mosquitto)
    try:
        await agent.birth(ts=T0, version="3.0.0")
        ing = await ingestor(database_url)  # subscribes after the birth was published
        await settled(ing, 1)
        assert await query(database_url, AGENT) == [(True, "3.0.0")]
        await agent.clear_state()
    finally:
        agent.close()


async def test_events_are_stored_once_and_move_relay_state_and_online_forward_only(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    now = int(time.time() * 1000)
    relay = EventKind.RELAY_CHANGED
    try:
        await agent.readings((1, values(["m1"], now - 1000)))
        await settled(ing, 1)
        meter = "SELECT online, relay_state FROM meters WHERE meter_id = 'm1'"
        assert await query(database_url, meter) == [(True, None)]
        await agent.events(
            1,
            [
                MeterEvent(meter="m1", ts=now, kind=EventKind.OFFLINE),
                MeterEvent(meter="m1", ts=now + 5, kind=relay, value=int(RelayState.DISCONNECTED)),
            ],
        )
        await settled(ing, 2)
        assert await query(database_url, meter) == [(False, 0)]
        # late and out of order: an older relay change and an older online event change nothing
        late = [
            MeterEvent(meter="m1", ts=now + 1, kind=relay, value=int(RelayState.CONNECTED)),
            MeterEvent(meter="m1", ts=now - 10, kind=EventKind.ONLINE),
        ]
        await agent.events(2, late)
        await agent.events(2, late)  # resent: stored once
        await settled(ing, 4)
        assert await query(database_url, meter) == [(False, 0)]
        await agent.events(3, [MeterEvent(meter="m1", ts=now + 9, kind=EventKind.ONLINE)])
        await settled(ing, 5)
        assert await query(database_url, meter) == [(True, 0)]
    finally:
        agent.close()
    stats = ing.stats()
    assert (stats["events_accepted"], stats["events_duplicates"]) == (5, 2)


async def test_a_stale_reading_does_not_bring_an_offline_meter_back(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    now = int(time.time() * 1000)
    q = Quantity.ENERGY_IMPORT
    try:
        await agent.events(1, [MeterEvent(meter="m1", ts=now - 60_000, kind=EventKind.OFFLINE)])
        await settled(ing, 1)
        repeat = Value(meter="m1", ts=now, quantity=q, value=1, quality=Quality.STALE)
        await agent.readings((1, [repeat]))
        await settled(ing, 2)
        meter = "SELECT online FROM meters WHERE meter_id = 'm1'"
        assert await query(database_url, meter) == [(False,)]
        await agent.readings((2, [Value(meter="m1", ts=now, quantity=q, value=2)]))
        await settled(ing, 3)
        assert await query(database_url, meter) == [(True,)]
    finally:
        agent.close()


async def test_meters_not_heard_from_in_time_are_marked_offline(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url, ingest_offline_after_s=600)
    agent = Agent(mosquitto)
    now = int(time.time() * 1000)
    try:
        await agent.readings(
            (1, values(["recent"], now - 100_000) + values(["older"], now - 500_000))
        )
        await settled(ing, 1)
    finally:
        agent.close()
    online = "SELECT meter_id, online FROM meters ORDER BY meter_id"
    assert await query(database_url, online) == [("older", True), ("recent", True)]
    engine = create_engine(database_url)
    try:
        later = datetime.now(UTC) + timedelta(seconds=200)  # 700 s and 300 s after them
        assert await ing.mark_offline(engine, later) == 1
        assert await ing.mark_offline(engine, later) == 0
    finally:
        await engine.dispose()
    assert await query(database_url, online) == [("older", False), ("recent", True)]


async def test_health_reports_mqtt_connected_when_ingestion_runs_in_the_api(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = settings_for(
        database_url, mosquitto, str(tmp_path), mqtt_client_id="test-api-health"
    )
    app = create_app(settings)
    try:
        async with AsyncTestClient(app) as client:
            await until(lambda: app.state.ingestor.status == "connected", 10, "MQTT")
            r = await client.get("/health")
    finally:
        forget_session(mosquitto, "test-api-health")
    assert r.status_code == 200
    assert (r.json()["mqtt"], r.json()["status"]) == ("connected", "ok")
