"""Receipts: after the commit of the batches it ingested, the backend tells each agent which of
its batches it has taken (``…/agents/{agent}/receipts``), one message per agent per commit
round; a batch sent again is receipted again and changes nothing."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from protocols.contract import Channel, Receipt, agent_topic, decode
from tests.integration.metering.ingest.conftest import StartIngestor
from tests.support.ingest_agent import T0, Agent, until, values
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto
METERS = [f"rc{i}" for i in range(10)]


class Receipts:
    """The agent's side: every receipt, with how many readings the database held when it
    arrived (read at once, in the MQTT thread)."""

    def __init__(self, agent: Agent, db_path: Path) -> None:
        self.got: list[tuple[Receipt, int]] = []
        self.db_path = db_path
        subscribed = threading.Event()
        agent.c.on_message = self._on_message
        agent.c.on_subscribe = lambda *_a: subscribed.set()
        agent.c.subscribe(agent_topic(agent.agent, Channel.RECEIPTS), 1)
        assert subscribed.wait(10)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        conn = sqlite3.connect(self.db_path, timeout=10)
        try:
            stored = int(conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
        finally:
            conn.close()
        self.got.append((decode(bytes(msg.payload), Receipt), stored))

    def seqs(self) -> list[int]:
        return sorted(s for r, _ in self.got for s in r.readings)


async def test_a_receipt_names_the_committed_batches_once_per_round_and_only_after_the_commit(
    sqlite_database_url: str, mosquitto: Mosquitto, ingestor: StartIngestor
) -> None:
    db_path = Path(sqlite_database_url.removeprefix("sqlite+aiosqlite:///"))
    # one commit round for the five messages: 50 readings close the batch, not the clock
    await ingestor(sqlite_database_url, ingest_batch_size=50, ingest_batch_ms=5000)
    agent = Agent(mosquitto)
    try:
        receipts = Receipts(agent, db_path)
        batches = [(s, values(METERS, T0 + s * 900_000)) for s in range(1, 6)]
        await agent.readings(*batches)
        await until(lambda: receipts.seqs() == [1, 2, 3, 4, 5], 20, "the receipt")
        assert len(receipts.got) == 1  # coalesced: one message for the round
        receipt, stored_then = receipts.got[0]
        assert receipt.agent == "agent-1"
        assert stored_then == 50  # sent only once the readings were committed

        # the same batches again (an agent that missed the receipt): receipted again, and
        # the database holds the same 50 readings
        await agent.readings(*batches)
        await until(lambda: len(receipts.got) == 2, 20, "the second receipt")
        assert sorted(receipts.got[1][0].readings) == [1, 2, 3, 4, 5]
        assert receipts.got[1][1] == 50
    finally:
        agent.close()
