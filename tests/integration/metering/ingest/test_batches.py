"""Readings through a real Mosquitto into SQLite and PostgreSQL: batches land, duplicates are
counted and not stored, MessagePack works, unknown meters become pending, hooks hear of it."""

from __future__ import annotations

import pytest

from backend.metering.ingest import AffectedInterval
from backend.metering.ingest.inbox import Item, classify
from protocols.contract import Channel, Encoding, Quantity, ReadingBatch, Value, agent_topic, encode
from tests.integration.metering.ingest.conftest import StartIngestor
from tests.support.ingest_agent import T0, Agent, query, scalar, settled, values
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto
Q = [Quantity.ENERGY_IMPORT, Quantity.VOLTAGE_A, Quantity.CURRENT_A, Quantity.ACTIVE_POWER]
METERS = [f"m{i}" for i in range(25)]


async def test_batches_land_once_and_duplicates_are_counted_not_stored(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url, ingest_batch_size=500)
    agent = Agent(mosquitto)
    try:
        batches = [(seq, values(METERS, T0 + seq * 900_000, Q, base=seq)) for seq in range(1, 21)]
        await agent.readings(*batches)  # 20 messages × 100 readings
        await settled(ing, 20)
        assert await scalar(database_url, "SELECT count(*) FROM readings") == 2000
        assert ing.stats()["batches"] >= 4  # 500 readings per commit at most

        await agent.readings(*batches[:5])  # a resend: same seq, same values
        await settled(ing, 25)
    finally:
        agent.close()
    stats = ing.stats()
    assert (stats["accepted"], stats["duplicates"]) == (2000, 500)
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 2000
    row = await query(
        database_url,
        "SELECT r.value, r.quality, r.source FROM readings r JOIN meters m ON m.id = r.meter_pk"
        " WHERE m.meter_id = 'm3' AND r.quantity = 'voltage_a' AND r.ts = :ts",
        ts=T0 + 7 * 900_000,
    )
    assert row == [(7 + 3 * 10 + 1, "good", "ami")]


async def test_messagepack_payloads_are_accepted(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    try:
        await agent.readings((1, values(["m1", "m2"], T0, Q)), encoding=Encoding.MSGPACK)
        await settled(ing, 1)
    finally:
        agent.close()
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 8
    assert ing.stats()["dead_letters"] == 0


async def test_an_unknown_meter_is_registered_as_pending_and_its_readings_kept(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    try:
        await agent.readings((1, values(["never-seen"], T0)))
        await settled(ing, 1)
    finally:
        agent.close()
    assert await query(
        database_url, "SELECT status, agent_id FROM meters WHERE meter_id = 'never-seen'"
    ) == [("pending", "agent-1")]
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 1
    assert ing.stats()["pending_meters"] == 1


async def test_readings_for_a_meter_of_another_agent_are_dead_lettered_not_stored(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    first, second = Agent(mosquitto, "agent-1"), Agent(mosquitto, "agent-2")
    try:
        await first.readings((1, values(["shared-meter"], T0)))
        await settled(ing, 1)
        forged = values(["shared-meter", "own-meter"], T0 + 900_000)
        await second.readings((1, forged))
        await settled(ing, 2)
    finally:
        first.close()
        second.close()
    stored = await query(
        database_url,
        "SELECT m.meter_id, m.agent_id FROM readings r JOIN meters m ON m.id = r.meter_pk"
        " ORDER BY r.ts",
    )
    assert stored == [("shared-meter", "agent-1"), ("own-meter", "agent-2")]
    reasons = await query(database_url, "SELECT topic, reason FROM dead_letters")
    assert reasons == [
        (
            "meterline/v1/agents/agent-2/readings",
            "not stored for agent 'agent-2': meter 'shared-meter' is assigned to agent 'agent-1'",
        )
    ]


async def test_after_commit_hooks_hear_of_new_readings_only(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    heard: list[list[AffectedInterval]] = []

    async def hook(intervals: list[AffectedInterval]) -> None:
        heard.append(sorted(intervals))

    ing = await ingestor(database_url, after_commit=(hook,))
    agent = Agent(mosquitto)
    energy = Quantity.ENERGY_IMPORT
    try:
        await agent.readings(
            (1, [Value(meter="m1", ts=T0 + k, quantity=energy, value=k) for k in (5, 9)])
        )
        await settled(ing, 1)
        late = [Value(meter="m1", ts=T0 + k, quantity=energy, value=k) for k in (1, 5, 9)]
        await agent.readings((2, late))  # one late reading, two duplicates
        await settled(ing, 2)
        await agent.readings((2, late))  # all duplicates: nothing to hear
        await settled(ing, 3)
    finally:
        agent.close()
    pk = await scalar(database_url, "SELECT id FROM meters WHERE meter_id = 'm1'")
    assert heard == [
        [AffectedInterval(pk, "energy_import", T0 + 5, T0 + 9, 2)],
        [AffectedInterval(pk, "energy_import", T0 + 1, T0 + 1, 1)],
    ]


async def test_a_full_batch_says_ingestion_is_behind_and_a_batch_that_takes_the_rest_does_not(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    """What the derived-data path holds a round for (``DerivedData.behind``): while a backlog
    drains, every batch is full; the one that takes what is left, and a lone message of a
    steady stream, are not."""
    heard: list[bool] = []
    ing = None

    async def hook(_intervals: list[AffectedInterval]) -> None:
        assert ing is not None
        heard.append(ing.is_behind())

    ing = await ingestor(database_url, after_commit=(hook,), ingest_batch_size=200)
    topic = agent_topic("agent-1", Channel.READINGS)

    def item(seq: int) -> Item:
        batch = ReadingBatch(agent="agent-1", seq=seq, values=values(METERS, T0 + seq, Q))
        return classify(Item(topic, encode(batch)))

    for seq in range(1, 6):  # 5 × 100 readings waiting at once: a backlog of 2½ batches
        ing.writer.offer(item(seq))
    await settled(ing, 5)
    assert heard == [True, True, False]
    assert not ing.is_behind()

    ing.writer.offer(item(6))  # a steady stream: one message, its batch closes on time
    await settled(ing, 6)
    assert heard == [True, True, False, False]
