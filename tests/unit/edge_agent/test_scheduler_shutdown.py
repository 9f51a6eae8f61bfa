"""A bus poller stops when it is cancelled, also when asyncio lost the cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.config import AgentConfig, Broker, Bus, BusProtocol, Meter, PollGroup, Transport
from edge_agent.database import Database
from edge_agent.meterstate import MeterStates
from edge_agent.metrics import Metrics
from edge_agent.outbox import Outbox
from edge_agent.scheduler import BusScheduler
from protocols.contract import Quantity, Value


class AnswersAsTheCancelLands:
    """A driver awaiting its reply with ``asyncio.wait_for``, as pymodbus does; the test
    delivers the reply in the same loop turn as the cancellation."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.reply: asyncio.Future[None] | None = None

    async def poll(self, meter: Meter, group: PollGroup) -> list[Value]:
        self.reply = asyncio.get_running_loop().create_future()
        self.waiting.set()
        await asyncio.wait_for(self.reply, 5.0)
        return [Value(meter.id, 1_763_800_000_000, Quantity.ENERGY_IMPORT, 1)]

    async def clock_drift_ms(self, meter: Meter) -> int | None:
        return None

    async def backfill(self, meter: Meter, since_ms: int) -> list[Value]:
        return []

    async def close(self) -> None:
        pass


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "agent.db")
    yield database
    database.close()


async def test_a_poller_cancelled_just_as_its_meter_answers_still_stops(db: Database) -> None:
    group = PollGroup(name="slow", every_s=600)
    bus = Bus(name="b1", transport=Transport.TCP, protocol=BusProtocol.MODBUS_TCP,
              host="127.0.0.1", port=502, groups=[group],
              meters=[Meter(id="m1", unit=1, map="sdm630")])  # fmt: skip
    config = AgentConfig(agent_id="a1", data_dir=".", broker=Broker(host="localhost"), buses=[bus])
    driver = AnswersAsTheCancelLands()
    outbox = Outbox(db, config.outbox)
    scheduler = BusScheduler(config, bus, driver, outbox, Metrics(), MeterStates(db))  # type: ignore[arg-type]
    task = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(driver.waiting.wait(), 5)
    assert driver.reply is not None
    driver.reply.set_result(None)
    task.cancel()
    # Python 3.11's wait_for returns the reply and drops the cancel; the next poll is 600 s
    # away, so a poller that missed it would wait there and never stop.
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done
    assert task.cancelled()
    assert outbox.readings_depth == 1  # the reply that raced the cancel was still stored
