"""Store and forward under faults: the broker down for a while, and the agent killed with
SIGKILL at random moments mid-publish. Nothing recorded may be lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import msgspec
import pytest

from protocols.contract import EventKind, Value
from tests.conftest import TEST_AGENTS
from tests.integration.edge_agent.conftest import running_agent
from tests.support.agent import Backend, agent_toml, dlt645_tcp_bus, wait_until
from tests.support.dlt645_meter import FakeBus, FakeMeter
from tests.support.services import Mosquitto, start_mosquitto, wait_port

pytestmark = pytest.mark.mosquitto

A1, A2 = "310000000001", "310000000002"
BACKLOG = 30  # readings the outbox must hold before a kill
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def private_broker() -> Iterator[Mosquitto]:
    """A Mosquitto of this test alone, so that it can be stopped and started again."""
    broker = start_mosquitto(TEST_AGENTS)
    yield broker
    if broker.process.poll() is None:
        broker.process.terminate()
        broker.process.wait(timeout=10)
    shutil.rmtree(broker.directory, ignore_errors=True)


def restart(broker: Mosquitto) -> None:
    log = open(broker.directory / "mosquitto.log", "ab")  # noqa: SIM115
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker.process = subprocess.Popen(
        [binary, "-c", str(broker.directory / "mosquitto.conf")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_port(broker.port)


def natural_keys(values: list[Value]) -> dict[tuple[str, int, str], int]:
    """(meter, ts, quantity) -> value; fails if a duplicate carries a different value."""
    seen: dict[tuple[str, int, str], int] = {}
    for v in values:
        key = (v.meter, v.ts, v.quantity.value)
        assert seen.setdefault(key, v.value) == v.value, f"{key} arrived with two values"
    return seen


async def test_readings_taken_while_the_broker_is_down_all_arrive_after_it_returns(
    tmp_path: Path, private_broker: Mosquitto
) -> None:
    meter = FakeMeter(A1)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    # a generous reply timeout: the meter counts every read it serves, and a reply that came
    # after the agent gave up (a busy machine) would look like a lost reading
    bus = dlt645_tcp_bus(port, [A1], every_s=0.05).replace("timeout_ms = 150", "timeout_ms = 3000")
    config = agent_toml(tmp_path, private_broker, bus, outbox="catch_up_rate = 200")
    backend = Backend(private_broker)
    try:
        async with running_agent(config) as agent:
            await backend.until(lambda: len(backend.values()) >= 3)
            private_broker.process.terminate()
            private_broker.process.wait(timeout=10)
            backend.close()
            reads_at_outage = meter.reads
            await wait_until(lambda: meter.reads >= reads_at_outage + 40)  # into the outbox
            assert agent.outbox.readings_depth >= 30
            held = await asyncio.to_thread(_snapshot, tmp_path / "data" / "agent.db")
            restart(private_broker)
            backend = Backend(private_broker)
            await backend.until(lambda: agent.outbox.readings_depth == 0, within=30)
            await backend.until(lambda: len(natural_keys(backend.values())) >= 40)
    finally:
        backend.close()
        await fake.stop()
    delivered = natural_keys(backend.values())
    energies = sorted(value for (_m, _t, _q), value in delivered.items())
    # every reading taken during the outage (energy rises by 10 Wh per read) is there
    outage = [e for e in energies if e > 1_000_000 + 10 * (reads_at_outage + 1)]
    assert len(outage) >= 38
    assert outage == list(range(outage[0], outage[-1] + 10, 10))
    assert len(held) >= 30
    assert all(delivered[key] == value for key, value in held.items())  # the outbox's, by key


def _log_file(directory: Path) -> BinaryIO:
    return open(directory / "agent.log", "ab")  # the agents' log, read on failure


def _snapshot(db_path: Path) -> dict[tuple[str, int, str], int]:
    """The readings committed in the agent's outbox (read while it runs, or between kills)."""
    if not db_path.exists():
        return {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT body FROM outbox WHERE channel = 'readings'").fetchall()
    finally:
        conn.close()
    dec = msgspec.msgpack.Decoder(Value)
    return {(v.meter, v.ts, v.quantity.value): v.value for v in (dec.decode(r[0]) for r in rows)}


@contextlib.contextmanager
def _held(broker: Mosquitto) -> Iterator[None]:
    """The broker paused (SIGSTOP): publishes reach its socket but no PUBACK comes back, so
    the agent's outbox can only grow; it resumes (SIGCONT) on leaving."""
    broker.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        broker.process.send_signal(signal.SIGCONT)


async def _backlog_of(db_path: Path, at_least: int) -> dict[tuple[str, int, str], int]:
    """Wait until the outbox holds ``at_least`` readings; return them."""
    deadline = time.monotonic() + 30
    while len(rows := await asyncio.to_thread(_snapshot, db_path)) < at_least:
        assert time.monotonic() < deadline, f"the outbox never held {at_least} readings"
        await asyncio.sleep(0.05)
    return rows


async def test_sigkill_at_random_moments_loses_no_recorded_reading(
    tmp_path: Path, private_broker: Mosquitto
) -> None:
    """Each round holds the broker back until the outbox has a backlog (made deliberately, so
    there is something to lose on any machine, however fast), then kills the agent at a random
    moment: while the broker is still held with batches in flight, or just after it resumed,
    mid-drain. Every reading the outbox ever held must arrive, with its value."""
    meters = FakeBus(FakeMeter(A1), FakeMeter(A2))
    port = await meters.start_tcp()
    config = agent_toml(tmp_path, private_broker, dlt645_tcp_bus(port, [A1, A2], every_s=0.02),
                        outbox="batch_size = 7\ninflight = 4")  # fmt: skip
    backend = Backend(private_broker)
    db_path = tmp_path / "data" / "agent.db"
    recorded: dict[tuple[str, int, str], int] = {}
    held_per_round: list[int] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(4)
    log = _log_file(tmp_path)
    try:
        for _ in range(5):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edge_agent", "run", "--config", str(config),
                env=env, stdout=log, stderr=log,
            )  # fmt: skip
            count = len(backend.values())  # connected and publishing before the hold:
            await backend.until(lambda c=count: len(backend.values()) > c + 3, within=30)
            with _held(private_broker):
                backlog = await _backlog_of(db_path, BACKLOG)
                held_per_round.append(len(backlog))
                recorded.update(backlog)
                kill_while_held = rng.random() < 0.5
                if kill_while_held:
                    await asyncio.sleep(rng.uniform(0.0, 0.2))
                    proc.send_signal(signal.SIGKILL)
            if not kill_while_held:
                await asyncio.sleep(rng.uniform(0.0, 0.2))  # mid-drain
                proc.send_signal(signal.SIGKILL)
            await proc.wait()
            recorded.update(_snapshot(db_path))
        # a last, clean run drains what the kills left behind
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge_agent", "run", "--config", str(config),
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
        count = len(backend.values())
        # the new process is up (it publishes fresh readings) before it may be stopped: an
        # early SIGTERM would hit it while it is still importing, before its handler exists
        await backend.until(lambda c=count: len(backend.values()) > c + 3, within=30)
        await backend.until(lambda: set(recorded) <= set(natural_keys(backend.values())), within=30)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        log.close()
        backend.close()
        await meters.stop()
    delivered = natural_keys(backend.values())
    assert min(held_per_round) >= BACKLOG
    assert len(recorded) >= BACKLOG
    assert all(delivered[key] == value for key, value in recorded.items())
    assert backend.events(EventKind.READINGS_DROPPED) == []
