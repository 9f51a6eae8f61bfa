"""The uplink and the outbox against a real Mosquitto: what one batch costs in commits, and how
the messages grow when the outbox backs up (issue 19, "Overload")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_agent.configfile import load_config
from edge_agent.database import Database
from edge_agent.metrics import Metrics
from edge_agent.outbox import Outbox
from edge_agent.uplink import Uplink
from protocols.contract import Quantity, Value
from tests.support.agent import Backend, agent_toml, dlt645_tcp_bus
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto

T0 = 1_763_800_000_000


async def _no_command(_payload: bytes) -> None:
    raise AssertionError("no command is sent in these tests")


@contextlib.asynccontextmanager
async def uplink(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend, outbox: str
) -> AsyncIterator[Outbox]:
    """An outbox drained by an uplink (no buses polled: the test stores the values)."""
    config = load_config(
        agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(1, ["310000000001"]), outbox=outbox)
    )
    db = Database(tmp_path / "data" / "agent.db")
    box = Outbox(db, config.outbox)
    up = Uplink(config, box, Metrics(), _no_command, [])
    task = asyncio.create_task(up.run(), name="uplink-under-test")
    try:
        async with asyncio.timeout(15):
            await up.connected_once.wait()
        await backend.until(lambda: box.parked)  # the uplink waits for rows
        yield box
    finally:
        await up.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        db.close()


def poll(n: int, k: int) -> list[Value]:
    """Poll ``k`` of one meter: ``n`` values, each read 1 ms after the one before."""
    return [Value("m1", T0 + k * n + i, Quantity.VOLTAGE_A, k * n + i) for i in range(n)]


async def test_at_light_load_each_poll_goes_out_alone_for_two_commits_one_with_its_seq(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    async with uplink(tmp_path, mosquitto, backend, "batch_size = 50") as box:
        statements: list[str] = []
        box.db.call(lambda c: c.set_trace_callback(statements.append))
        for k in range(5):
            await backend.until(lambda: box.parked)  # the uplink waits for the next rows
            await box.put_readings(poll(3, k))
            await backend.until(lambda k=k: len(backend.of("readings")) == k + 1)
            await backend.until(lambda: box.readings_depth == 0)
        box.db.call(lambda c: c.set_trace_callback(None))
    batches = backend.of("readings")
    assert [[v.value for v in b.values] for b in batches] == [
        [3 * k, 3 * k + 1, 3 * k + 2] for k in range(5)
    ]
    # per poll: its values and its batch's seq in one commit, the PUBACK's deletion in another
    # (it shares the next poll's commit when one comes before it)
    assert statements.count("COMMIT") == 2 * 5
    assert box.commits == 2 * 5


async def test_a_backed_up_outbox_goes_out_in_fewer_larger_messages_in_order(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    async with uplink(tmp_path, mosquitto, backend, "batch_size = 20\ninflight = 1") as box:
        await box.put_readings(poll(10, 0))
        await backend.until(lambda: len(backend.values()) == 10)
        # 300 polls finish while the uplink is busy: 3,000 values waiting for the one slot
        await asyncio.gather(*(box.put_readings(poll(10, k)) for k in range(1, 301)))
        await backend.until(lambda: len(backend.values()) == 3_010)
        await backend.until(lambda: box.readings_depth == 0)
    sizes = [len(b.values) for b in backend.of("readings")]
    assert sizes[0] == 10  # light load: the poll alone, at once
    assert max(sizes) > 20  # backed up: messages larger than batch_size ...
    assert len(sizes) < 3_000 // 20  # ... and fewer than batch_size would need
    assert [v.value for v in backend.values()] == list(range(3_010))
    seqs = [b.seq for b in backend.of("readings")]
    assert seqs == list(range(1, len(seqs) + 1))
