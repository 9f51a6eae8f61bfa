"""Overload: the agent polls less often rather than letting readings queue.

The overload is made, not hoped for: meters that take longer to answer than the poll period
allows (the bus is the bottleneck), or a link to the broker throttled to half of what the
meters produce (the uplink is the bottleneck). What is asserted is a bound — outbox depth,
read-to-PUBACK age — and the control's signs (metric, event), never a speed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_agent.agent import Agent
from protocols.contract import EventKind
from tests.integration.edge_agent.conftest import running_agent
from tests.support.agent import Backend, agent_toml, dlt645_tcp_bus
from tests.support.dlt645_meter import FakeBus, FakeMeter
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto

A1, A2 = "310000000001", "310000000002"


class SlowBus(FakeBus):
    """Meters that take ``delay`` seconds to answer each frame."""

    delay = 0.0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        slow = self

        class Writer:
            def write(self, data: bytes) -> None:
                self.pending = data

            async def drain(self) -> None:
                if slow.delay:
                    await asyncio.sleep(slow.delay)
                writer.write(self.pending)
                await writer.drain()

            def close(self) -> None:
                writer.close()

        await super().serve(reader, Writer())  # type: ignore[arg-type]


class ThrottledLink:
    """A TCP proxy to the broker whose agent-to-broker direction carries at most ``rate``
    bytes per second (None: unthrottled); the broker's replies pass at once."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.rate: float | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.broker.host, self.broker.port)
        for pump in (self._pump(reader, up_writer, True), self._pump(up_reader, writer, False)):
            task = asyncio.create_task(pump)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, throttled: bool
    ) -> None:
        try:
            while chunk := await reader.read(256 if throttled else 65536):
                writer.write(chunk)
                await writer.drain()
                if throttled and self.rate:
                    await asyncio.sleep(len(chunk) / self.rate)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def stretch(agent: Agent, group: str = "fast") -> float:
    value = agent.metrics.registry.get_sample_value(
        "meterline_agent_poll_stretch", {"bus": "gw-1", "group": group}
    )
    assert value is not None
    return value


def period(agent: Agent, group: str = "fast") -> float:
    value = agent.metrics.registry.get_sample_value(
        "meterline_agent_poll_period_seconds", {"bus": "gw-1", "group": group}
    )
    assert value is not None
    return value


@contextlib.asynccontextmanager
async def slow_meters(delay: float) -> AsyncIterator[tuple[SlowBus, int]]:
    bus = SlowBus(FakeMeter(A1), FakeMeter(A2))
    bus.delay = delay
    port = await bus.start_tcp()
    try:
        yield bus, port
    finally:
        await bus.stop()


async def test_meters_slower_than_the_period_stretch_it_and_it_shrinks_back_when_they_recover(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    # two meters answering in 0.1 s cannot both be read every 0.05 s: a cycle takes 0.2 s
    async with slow_meters(0.1) as (bus, port):
        text = dlt645_tcp_bus(port, [A1, A2], every_s=0.05).replace(
            "timeout_ms = 150", "timeout_ms = 2000"
        )
        async with running_agent(agent_toml(tmp_path, mosquitto, text)) as agent:
            assert stretch(agent) == 1.0
            assert period(agent) == pytest.approx(0.05)
            stretched = await backend.until(
                lambda: (
                    {
                        e.meter
                        for e in backend.events(EventKind.POLL_STRETCHED)
                        if e.group == "fast" and e.value >= 100
                    }
                    == {"m1", "m2"}
                ),
                within=30,
            )
            assert stretched
            assert stretch(agent) >= 2.0
            assert period(agent) == pytest.approx(0.05 * stretch(agent))
            bus.delay = 0.0  # the meters answer at once again
            await backend.until(
                lambda: any(
                    e.value == 50 and e.group == "fast"
                    for e in backend.events(EventKind.POLL_STRETCHED, meter="m1")
                ),
                within=60,
            )
            assert stretch(agent) == 1.0
            assert period(agent) == pytest.approx(0.05)
    events = backend.events(EventKind.POLL_STRETCHED, meter="m1")
    assert events[0].value >= 100
    assert events[-1].value == 50
    assert "polled every" in events[0].text


async def test_an_uplink_carrying_half_of_what_is_read_keeps_the_outbox_and_the_latency_bounded(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    """Two meters every 0.05 s give 40 readings/s; the link to the broker carries about 20.
    Without the control the outbox would grow by 20 readings and the latency by half a second
    every second; with it both stay bounded, and the stretch goes back to 1 once the link is
    free again."""
    link = ThrottledLink(mosquitto)
    await link.start()
    meters = FakeBus(FakeMeter(A1), FakeMeter(A2))
    port = await meters.start_tcp()
    bus = dlt645_tcp_bus(port, [A1, A2], every_s=0.05).replace(
        "timeout_ms = 150", "timeout_ms = 2000"
    )
    config = agent_toml(tmp_path, mosquitto, bus, outbox="batch_size = 5\ninflight = 1")
    config.write_text(
        config.read_text().replace(f"port = {mosquitto.port}\n", f"port = {link.port}\n", 1)
    )
    depths: list[int] = []
    try:
        async with running_agent(config) as agent:
            agent.outbox.listeners.append(lambda: depths.append(agent.outbox.readings_depth))
            await backend.until(lambda: len(backend.values()) >= 10)
            # ~20 readings/s of JSON (about 90 bytes each, plus the MQTT framing)
            link.rate = 2_000
            await backend.until(
                lambda: any(e.group == "fast" for e in backend.events(EventKind.POLL_STRETCHED)),
                within=30,
            )
            assert stretch(agent) >= 1.5
            # sustained: another 300 readings (15 s of what the link carries) under throttle
            delivered = len(backend.values())
            await backend.until(lambda: len(backend.values()) >= delivered + 300, within=60)
            throttled_max = max(depths)
            assert stretch(agent) >= 1.5
            histogram = agent.metrics.read_to_puback
            assert histogram.count() >= 300
            assert histogram.count_above(5.0) == 0  # no reading waited 5 s for its PUBACK
            link.rate = None  # the link is free again: the period shrinks back
            await backend.until(lambda: stretch(agent) == 1.0, within=60)
            assert histogram.count_above(5.0) == 0
    finally:
        await meters.stop()
        await link.stop()
    # 15 s at 20 readings/s too many would have left ~300 waiting; the control keeps it to
    # a few seconds' worth
    assert throttled_max <= 120
    assert backend.events(EventKind.READINGS_DROPPED) == []
