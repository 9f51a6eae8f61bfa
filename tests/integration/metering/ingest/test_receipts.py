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
    ing = await ingestor(sqlite_database_url, ingest_batch_size=50, ingest_batch_ms=5000)
    agent = Agent(mosquitto)
    try:
        receipts = Receipts(agent, db_path)
        batches = [(s, values(METERS, T0 + s * 900_000)) for s in range(1, 6)]
        await agent.readings(*batches)
        await until(lambda: receipts.seqs() == [1, 2, 3, 4, 5], 20, "the receipt")
        rounds = ing.counters.commit.count
        assert rounds < 5  # the five batches shared commit rounds (usually one) …
        assert len(receipts.got) == rounds  # … and each round sent one receipt for all of them
        assert {r.agent for r, _ in receipts.got} == {"agent-1"}
        named: set[int] = set()
        for receipt, stored_then in receipts.got:  # each sent only after its commit:
            named |= set(receipt.readings)  # every batch named so far was already stored
            assert stored_then >= len(METERS) * len(named)

        # the same batches again (an agent that missed the receipt): receipted again, and
        # the database holds the same 50 readings
        await agent.readings(*batches)
        await until(lambda: receipts.seqs() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], 20, "receipts")
        assert all(stored == 50 for _, stored in receipts.got[rounds:])
    finally:
        agent.close()
