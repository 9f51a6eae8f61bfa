"""Sequence gaps per agent and channel: recorded when seqs skip, shrunk and closed by late
arrivals, untouched by resends."""

from __future__ import annotations

import pytest

from protocols.contract import EventKind, MeterEvent
from tests.integration.metering.ingest.conftest import StartIngestor
from tests.support.ingest_agent import T0, Agent, query, scalar, settled, values
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto

GAPS = (
    "SELECT channel, first_missing, last_missing FROM ingest_gaps ORDER BY channel, first_missing"
)


async def test_a_sequence_gap_is_recorded_and_late_messages_fill_it(
    database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    ing = await ingestor(database_url)
    agent = Agent(mosquitto)
    sent = 0

    async def send(*seqs: int) -> None:
        nonlocal sent
        await agent.readings(*[(s, values(["m1"], T0 + s * 900_000)) for s in seqs])
        sent += len(seqs)
        await settled(ing, sent)

    try:
        await send(1, 2, 7)
        assert await query(database_url, GAPS) == [("readings", 3, 6)]
        await send(2)  # a resend of an old seq is not a gap, and fills nothing
        assert await query(database_url, GAPS) == [("readings", 3, 6)]
        await send(4)  # inside: the gap splits
        assert await query(database_url, GAPS) == [("readings", 3, 3), ("readings", 5, 6)]
        await send(3, 6)  # ends: closed and shrunk
        assert await query(database_url, GAPS) == [("readings", 5, 5)]
        await send(5, 8)
        assert await query(database_url, GAPS) == []
        await agent.events(1, [MeterEvent(meter="m1", ts=T0, kind=EventKind.POWER_FAILURE)])
        await agent.events(3, [MeterEvent(meter="m1", ts=T0 + 1, kind=EventKind.POWER_RESTORED)])
        await settled(ing, sent + 2)
    finally:
        agent.close()
    assert await query(database_url, GAPS) == [("events", 2, 2)]
    assert await query(
        database_url, "SELECT last_reading_seq, last_event_seq FROM agents WHERE id = 'agent-1'"
    ) == [(8, 3)]
    stats = ing.stats()
    assert (stats["gaps"], stats["gaps_filled"]) == (2, 4)
    assert await scalar(database_url, "SELECT count(*) FROM meter_events") == 2
