"""Malformed payloads become dead letters with a reason naming the field; ingestion goes on."""

from __future__ import annotations

import pytest

from protocols.contract import Channel, EventBatch, EventKind, MeterEvent, encode
from tests.integration.metering.ingest.conftest import StartIngestor
from tests.support.ingest_agent import T0, Agent, query, scalar, settled, values
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto


async def test_malformed_payloads_are_dead_lettered_with_their_reason_and_ingestion_goes_on(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    bad = [
        (Channel.READINGS, b"{not json"),
        (Channel.READINGS, b'{"agent": "agent-1", "seq": -4, "values": []}'),
        (Channel.READINGS, b'{"agent": "agent-2", "seq": 1, "values": []}'),
        (
            Channel.READINGS,
            b'{"agent": "agent-1", "seq": 2, "values": [{"meter": "m1", "ts": 1,'
            b' "quantity": "energy_import", "value": 99999999999999999999}]}',
        ),
        (Channel.EVENTS, b'{"agent": "agent-1", "seq": 1, "events": [{"meter": "m1"}]}'),
        (Channel.STATE, b"\x00\x01"),
    ]
    try:
        for channel, payload in bad:
            await agent.publish(channel, payload)
        await agent.readings((3, values(["m1"], T0)))
        await settled(ing, len(bad) + 1)
    finally:
        agent.close()
    letters = await query(
        database_url, "SELECT topic, reason, payload FROM dead_letters ORDER BY id"
    )
    assert [bytes(p) for _t, _r, p in letters] == [p for _c, p in bad]
    reasons = [r for _t, r, _p in letters]
    assert reasons[0].startswith("json payload malformed")
    assert reasons[1] == "json payload invalid: Expected `int` >= 0 - at `$.seq`"
    assert reasons[2] == (
        "payload agent 'agent-2' does not match topic agent 'agent-1' - at `$.agent`"
    )
    # beyond what any meter produces (the contract's bound), let alone 64 bits
    assert reasons[3] == (
        "json payload invalid: Expected `int` <= 999999999999999 - at `$.values[0].value`"
    )
    assert (
        reasons[4] == "json payload invalid: Object missing required field `ts` - at `$.events[0]`"
    )
    assert reasons[5] == "payload starts with byte 0x00: neither JSON nor MessagePack"
    assert letters[5][0] == "meterline/v1/agents/agent-1/state"
    assert ing.stats()["dead_letters"] == len(bad)
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 1


@pytest.mark.postgres
async def test_a_message_the_database_refuses_becomes_a_dead_letter_and_its_batch_is_kept(
    postgres_database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    # PostgreSQL text cannot hold U+0000; the contract lets it through in an event's text.
    database_url = postgres_database_url
    ing = await ingestor(database_url, ingest_batch_ms=500)
    agent = Agent(mosquitto)
    poisoned = EventBatch(
        agent="agent-1",
        seq=1,
        events=[MeterEvent(meter="m1", ts=T0, kind=EventKind.COVER_OPENED, text="lid\x00open")],
    )
    try:
        await agent.readings((1, values(["m1"], T0)))
        await agent.publish(Channel.EVENTS, encode(poisoned))
        await agent.readings((2, values(["m1"], T0 + 900_000)))
        await settled(ing, 3)
    finally:
        agent.close()
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 2
    (reason,) = await query(database_url, "SELECT reason FROM dead_letters")
    assert reason[0].startswith("database refused it: CharacterNotInRepertoireError")
    assert ing.stats()["dead_letters"] == 1
