"""A bus poller keeps its cadence however late it wakes, and stops when it is cancelled — also
when asyncio lost the cancellation."""

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


class Answers:
    """A meter that answers at once."""

    async def poll(self, meter: Meter, group: PollGroup) -> list[Value]:
        return [Value(meter.id, 1_763_800_000_000, Quantity.VOLTAGE_A, 230_000)]

    async def clock_drift_ms(self, meter: Meter) -> int | None:
        return None

    async def backfill(self, meter: Meter, since_ms: int) -> list[Value]:
        return []

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def one_meter_bus(group: PollGroup) -> tuple[AgentConfig, Bus]:
    bus = Bus(name="b1", transport=Transport.TCP, protocol=BusProtocol.MODBUS_TCP,
              host="127.0.0.1", port=502, groups=[group],
              meters=[Meter(id="m1", unit=1, map="sdm630")])  # fmt: skip
    config = AgentConfig(agent_id="a1", data_dir=".", broker=Broker(host="localhost"), buses=[bus])
    return config, bus


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "agent.db")
    yield database
    database.close()


async def test_a_poller_cancelled_just_as_its_meter_answers_still_stops(db: Database) -> None:
    group = PollGroup(name="slow", every_s=600)
    config, bus = one_meter_bus(group)
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


async def test_a_poll_that_starts_late_does_not_push_the_next_one_later(db: Database) -> None:
    group = PollGroup(name="fast", every_s=1)
    config, bus = one_meter_bus(group)
    clock = Clock(1_000.0)
    outbox = Outbox(db, config.outbox)
    scheduler = BusScheduler(config, bus, Answers(), outbox, Metrics(), MeterStates(db), clock)  # type: ignore[arg-type]
    dues = []
    for late in (0.05, 0.03, 0.08, 0.01):  # every poll starts a little late
        clock.now = scheduler.meters["m1"].due["fast"] + late
        await scheduler._step()
        dues.append(scheduler.meters["m1"].due["fast"])
    assert dues == [1_001.0, 1_002.0, 1_003.0, 1_004.0]  # the cadence holds, no drift
    assert outbox.readings_depth == 4


async def test_after_an_outage_the_poller_skips_to_the_next_slot_rather_than_bursting(
    db: Database,
) -> None:
    group = PollGroup(name="fast", every_s=1)
    config, bus = one_meter_bus(group)
    clock = Clock(1_000.0)
    outbox = Outbox(db, config.outbox)
    scheduler = BusScheduler(config, bus, Answers(), outbox, Metrics(), MeterStates(db), clock)  # type: ignore[arg-type]
    clock.now = 1_005.5  # five and a half intervals behind
    await scheduler._step()
    assert scheduler.meters["m1"].due["fast"] == 1_006.5


class TakesLong(Answers):
    """A meter whose poll takes one and a half intervals (of the test's clock)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def poll(self, meter: Meter, group: PollGroup) -> list[Value]:
        self.clock.now += 1.5
        return await super().poll(meter, group)


async def test_a_poll_that_overruns_its_interval_is_followed_at_once_not_a_slot_later(
    db: Database,
) -> None:
    group = PollGroup(name="fast", every_s=1)
    config, bus = one_meter_bus(group)
    clock = Clock(1_000.0)
    outbox = Outbox(db, config.outbox)
    slow = TakesLong(clock)
    scheduler = BusScheduler(config, bus, slow, outbox, Metrics(), MeterStates(db), clock)  # type: ignore[arg-type]
    await scheduler._step()  # polls from 1000.0 to 1001.5
    assert scheduler.meters["m1"].due["fast"] == 1_001.0  # already due: the next poll runs now
