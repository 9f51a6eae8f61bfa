"""The agent's disk full: its data directory is a small tmpfs of its own (mounted by the test,
which runs as root as CI does), filled to the last byte while the agent polls, then freed.

While the disk is full the agent cannot record a poll, so it does not take one as done: the
meter keeps the energy in its register and the next recorded poll carries it. It must not die,
must not lose or corrupt what it had recorded before, must say so (a log line, and the
``storage_failing`` and ``storage_errors`` metrics), and must resume by itself when space comes
back. Each round stops the broker first, so the outbox holds a backlog when the disk fills; the
invariant is the fault suite's: every reading the agent recorded is stored once, by natural key.

``METERLINE_FAULTS=N`` fills the disk N/4 times (at least 2).
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.conftest import start, stop
from tests.support.agent import agent_toml, dlt645_tcp_bus, wait_until
from tests.support.dlt645_meter import FakeBus, FakeMeter
from tests.support.services import Mosquitto
from tests.support.uplink import Uplink

pytestmark = pytest.mark.mosquitto

ADDRESSES = ["310000000011", "310000000012"]
FILLS = max(2, int(os.environ.get("METERLINE_FAULTS", "3")) // 4)


def fill(directory: Path) -> int:
    """Write a filler file until the filesystem refuses a byte; returns the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with open(directory / "filler", "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk if len(chunk) > 1 else b"\0")
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return written
                chunk = chunk[: len(chunk) // 16]
    return written


def mount(args: list[str], command: str = "mount") -> None:
    subprocess.run([command, *args], check=True)


def reads(meters: FakeBus) -> int:
    return sum(m.reads for m in meters.meters.values())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_full_disk_stops_recording_but_not_the_agent_and_loses_nothing_recorded(
    database_url: str, persistent_broker: Mosquitto, tmp_path: Path
) -> None:
    meters = FakeBus(*(FakeMeter(a) for a in ADDRESSES))
    port = await meters.start_tcp()
    bus = dlt645_tcp_bus(port, ADDRESSES, every_s=0.05)
    bus = bus.replace("timeout_ms = 150", "timeout_ms = 3000")
    config = agent_toml(tmp_path, persistent_broker, bus, outbox="batch_size = 10\ninflight = 4")
    data = tmp_path / "data"
    data.mkdir()
    mount(["-t", "tmpfs", "-o", "size=16m", "tmpfs", str(data)])
    up = Uplink(tmp_path, persistent_broker, database_url, config)
    done: Counter[str] = Counter()
    try:
        up.start_ingest()
        await up.start_agent()
        await up.flowing(within_s=120)
        assert up.agent is not None
        pid = up.agent.pid
        for _ in range(FILLS):
            stop(persistent_broker)  # a backlog builds in the outbox
            target = reads(meters) + 10
            await wait_until(lambda t=target: reads(meters) >= t, within=60)
            up.note_outbox()
            filled = fill(data)
            assert filled > 0
            # The meters are still read while nothing can be recorded: the agent goes on.
            target = reads(meters) + 5
            await wait_until(lambda t=target: reads(meters) >= t, within=60)
            assert up.agent.returncode is None, (tmp_path / "agent.log").read_text()[-3000:]
            up.note_outbox()
            (data / "filler").unlink()
            start(persistent_broker)
            done["disk full"] += 1
            await up.flowing()
        up.note_outbox()
        assert up.agent.pid == pid
        assert up.agent.returncode is None
        deadline = time.monotonic() + 60
        while "the disk takes writes again" not in (log := (tmp_path / "agent.log").read_text()):
            assert time.monotonic() < deadline, "the agent never said the disk is back"
            await asyncio.sleep(0.2)
        while not set(up.recorded) <= set(stored := await up.stored()):
            assert time.monotonic() < deadline, "recorded readings never arrived"
            await asyncio.sleep(0.2)
    finally:
        await up.close()
        await meters.stop()
        mount(["--lazy", str(data)], command="umount")
    missing = {k: v for k, v in up.recorded.items() if stored.get(k) != v}
    print(
        f"\ndisk full: {dict(done)}; readings recorded and checked: {len(up.recorded)}, "
        f"stored: {len(stored)}, lost: {len(missing)}"
    )
    assert missing == {}
    assert up.recorded
    assert "disk full or failing" in log
    assert len({k[0] for k in stored}) == len(ADDRESSES)
