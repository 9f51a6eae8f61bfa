"""A poison message (100 KB nested thousands deep, or far too large) published through a real
Mosquitto is dead-lettered with its reason and acknowledged before any decoder sees it; the
good messages behind it are committed, and a restart does not bring the poison back."""

from __future__ import annotations

import pytest

from protocols.contract import Channel
from tests.integration.metering.ingest.conftest import StartIngestor
from tests.support.ingest_agent import T0, Agent, query, scalar, settled, until, values
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto

DEEP_JSON = b'{"agent":"agent-1","seq":1,"x":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
DEEP_MSGPACK = b"\x83\xa5agent\xa7agent-1\xa3seq\x01\xa1x" + b"\x91" * 100_000 + b"\x90"


async def test_a_poison_message_is_dead_lettered_and_the_good_ones_behind_it_are_committed(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url, client_id="poison-ingest")
    agent = Agent(mosquitto)
    try:
        await agent.publish(Channel.READINGS, DEEP_JSON)
        await agent.readings((2, values(["m1"], T0)), (3, values(["m1"], T0 + 900_000)))
        await agent.publish(Channel.EVENTS, DEEP_MSGPACK)
        await agent.readings((4, values(["m1"], T0 + 1_800_000)))
        await settled(ing, 5)
    finally:
        agent.close()
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 3
    letters = await query(database_url, "SELECT topic, reason FROM dead_letters ORDER BY id")
    assert letters == [
        (
            "meterline/v1/agents/agent-1/readings",
            "json payload nested deeper than the limit of 16 levels",
        ),
        (
            "meterline/v1/agents/agent-1/events",
            "msgpack payload nested deeper than the limit of 16 levels",
        ),
    ]
    assert ing.stats()["dead_letters"] == 2


async def test_an_acknowledged_poison_message_is_not_redelivered_after_a_restart(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url, client_id="poison-restart")
    agent = Agent(mosquitto)
    try:
        await agent.publish(Channel.READINGS, DEEP_JSON)
        await agent.readings((2, values(["m1"], T0)))
        await settled(ing, 2)
        await ing.stop()
        again = await ingestor(database_url, client_id="poison-restart")
        await agent.readings((3, values(["m1"], T0 + 900_000)))

        async def both_stored() -> bool:
            return await scalar(database_url, "SELECT count(*) FROM readings") == 2

        await until(both_stored, 20, "the reading sent after the restart")
        await settled(again, 1)
    finally:
        agent.close()
    assert again.counters.messages == 1  # only the new reading: the poison was acknowledged
    assert await scalar(database_url, "SELECT count(*) FROM dead_letters") == 1


async def test_an_oversized_payload_keeps_only_its_head_in_the_dead_letter(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    big = b'{"agent":"agent-1","seq":1,"values":[],"pad":"' + b"x" * 5_000_000 + b'"}'
    try:
        await agent.publish(Channel.READINGS, big)
        await agent.readings((2, values(["m1"], T0)))
        await settled(ing, 2)
    finally:
        agent.close()
    ((reason, kept),) = await query(database_url, "SELECT reason, payload FROM dead_letters")
    assert reason == f"payload of {len(big)} bytes is larger than the limit of 4194304 bytes"
    assert bytes(kept) == big[:4096]
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 1
