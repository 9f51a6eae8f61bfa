"""The whole agent (in this process) against real Mosquitto and DL/T 645 meters over TCP (and
simulated DL/T 698.45 meters for their power-down records)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from edge_agent.simulators import BusSpec, FleetSpec, run_simulators
from protocols.contract import AgentBirth, AgentDeath, EventKind, Quantity
from tests.integration.edge_agent.conftest import running_agent
from tests.support.agent import Backend, agent_toml, dlt645_tcp_bus
from tests.support.dlt645_meter import TZ, FakeBus, FakeMeter
from tests.support.services import Mosquitto

pytestmark = pytest.mark.mosquitto

A1, A2 = "310000000001", "310000000002"


async def test_readings_arrive_with_acquisition_times_and_increasing_seq(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    meter = FakeMeter(A1)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1]))
    started = int(time.time() * 1000)
    try:
        async with running_agent(config) as agent:
            await backend.until(lambda: len(backend.values()) >= 5)
            births = [m for m in backend.of("state") if isinstance(m, AgentBirth)]
            assert births[-1].meters[0].meter == "m1"
            assert births[-1].meters[0].address == A1
            await backend.until(lambda: agent.outbox.readings_depth == 0)
    finally:
        await fake.stop()
    batches = backend.of("readings")
    seqs = [b.seq for b in batches]
    assert seqs == sorted(set(seqs))
    values = backend.values()
    assert all(v.meter == "m1" and v.quantity is Quantity.ENERGY_IMPORT for v in values)
    assert all(v.ts >= started for v in values)
    assert [v.value for v in values] == sorted(v.value for v in values)  # per-meter order
    death = backend.of("state")[-1]
    assert isinstance(death, AgentDeath)
    assert death.clean is True


async def test_seq_keeps_increasing_across_a_restart(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1]))
    try:
        async with running_agent(config):
            await backend.until(lambda: len(backend.of("readings")) >= 2)
        first_run = max(b.seq for b in backend.of("readings"))
        count = len(backend.of("readings"))
        async with running_agent(config):
            await backend.until(lambda: len(backend.of("readings")) >= count + 2)
    finally:
        await fake.stop()
    second_run = [b.seq for b in backend.of("readings")[count:]]
    assert min(second_run) > first_run


async def test_an_agent_back_from_its_own_absence_reports_a_cut_its_meter_recorded_meanwhile(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    meter = FakeMeter(A1)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1]))
    try:
        async with running_agent(config):
            await backend.until(lambda: len(backend.of("readings")) >= 2)
        # the agent's box lost supply with its meters; the meters came back before the agent
        down = datetime.now(TZ).replace(microsecond=0) + timedelta(seconds=1)
        meter.power_down = (down, down + timedelta(minutes=3))
        async with running_agent(config):
            await backend.until(
                lambda: [e for e in backend.events(EventKind.POWER_RESTORED, "m1") if e.text]
            )
    finally:
        await fake.stop()
    got = [
        (e.kind, e.ts, e.text)
        for kind in (EventKind.POWER_FAILURE, EventKind.POWER_RESTORED)
        for e in backend.events(kind, "m1")
    ]
    at = int(down.timestamp() * 1000)
    assert got == [
        (EventKind.POWER_FAILURE, at, "meter_record"),
        (EventKind.POWER_RESTORED, at + 180_000, "meter_record"),
    ]


async def test_a_silent_meter_backs_off_goes_offline_and_the_other_keeps_its_schedule(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    good, silent = FakeMeter(A1), FakeMeter(A2, silent=True)
    fake = FakeBus(good, silent)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1, A2], every_s=0.1))
    try:
        async with running_agent(config):
            await backend.until(lambda: backend.events(EventKind.OFFLINE, "m2"))
            window_start = time.monotonic()
            asked_m2 = sum(1 for f in fake.frames if f.address == A2)
            good_reads = good.reads
            await backend.until(lambda: good.reads >= good_reads + 15)
            elapsed = time.monotonic() - window_start
            asked_m2_after = sum(1 for f in fake.frames if f.address == A2) - asked_m2
            silent.silent = False
            await backend.until(lambda: backend.events(EventKind.ONLINE, "m2"))
    finally:
        await fake.stop()
    # 15 polls of m1 at 0.1 s: the silent meter (0.15 s timeout each) did not eat the bus.
    assert elapsed < 15 * 0.1 + 1.5
    assert asked_m2_after <= 4  # backed off: 0.1, 0.2, 0.4, 0.8 … capped at 2 s
    assert len(backend.events(EventKind.OFFLINE, "m2")) == 1  # once per state change
    assert backend.events(EventKind.OFFLINE, "m1") == []


async def test_a_meter_whose_clock_drifts_gets_broadcast_time_and_a_clock_drift_event(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    from datetime import timedelta

    meter = FakeMeter(A1, clock_offset=timedelta(minutes=-3))
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1]))
    try:
        async with running_agent(config):
            events = await backend.until(lambda: backend.events(EventKind.CLOCK_DRIFT, "m1"))
    finally:
        await fake.stop()
    assert -182_000 <= events[0].value <= -178_000
    assert meter.time_syncs == 1


async def test_the_metrics_endpoint_reports_polls_and_outbox_depth(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    import urllib.request

    from tests.support.services import free_port

    fake = FakeBus(FakeMeter(A1))
    port = await fake.start_tcp()
    metrics_port = free_port()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1]))
    config.write_text(
        config.read_text().replace('listen = ""', f'listen = "127.0.0.1:{metrics_port}"')
    )
    try:
        async with running_agent(config):
            await backend.until(lambda: len(backend.values()) >= 3)
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
    finally:
        await fake.stop()
    text = body.decode()
    assert 'meterline_agent_polls_total{meter="m1",result="ok"}' in text
    assert 'meterline_agent_outbox_depth{channel="readings"}' in text
    assert "meterline_agent_readings_dropped " in text
    assert "meterline_agent_publish_latency_seconds_count" in text


async def test_a_whole_bus_going_silent_is_reported_as_power_failures_and_restored_after(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    m1, m2 = FakeMeter(A1), FakeMeter(A2)
    fake = FakeBus(m1, m2)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1, A2], every_s=0.1))
    try:
        async with running_agent(config):
            await backend.until(lambda: m1.reads >= 2 and m2.reads >= 2)
            m2.silent = True  # one meter alone: a link fault, not a power cut
            await backend.until(lambda: backend.events(EventKind.OFFLINE, "m2"))
            assert backend.events(EventKind.POWER_FAILURE, "m2") == []
            cut = int(time.time() * 1000)
            m1.silent = True  # now the whole bus is dark
            await backend.until(lambda: backend.events(EventKind.POWER_FAILURE, "m1"))
            m1.silent = m2.silent = False
            await backend.until(
                lambda: (
                    len(backend.events(EventKind.POWER_RESTORED, "m1"))
                    + len(backend.events(EventKind.POWER_RESTORED, "m2"))
                    == 2
                )
            )
    finally:
        await fake.stop()
    (f1,), (f2,) = (
        backend.events(EventKind.POWER_FAILURE, "m1"),
        backend.events(EventKind.POWER_FAILURE, "m2"),
    )
    assert f2.ts < cut <= f1.ts  # each from when it first stopped answering
    assert (f1.text, f2.text) == ("bus_silent", "bus_silent")
    (r1,) = backend.events(EventKind.POWER_RESTORED, "m1")
    assert r1.ts > f1.ts


async def test_a_meter_back_from_a_silence_reports_its_own_power_down_record_at_its_own_times(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    m1, m2 = FakeMeter(A1), FakeMeter(A2)
    old = datetime.now(TZ) - timedelta(days=3)
    m1.power_down = (old, old + timedelta(hours=1))  # an old cut: not this silence's
    fake = FakeBus(m1, m2)
    port = await fake.start_tcp()
    config = agent_toml(tmp_path, mosquitto, dlt645_tcp_bus(port, [A1, A2], every_s=0.1))
    try:
        async with running_agent(config):
            await backend.until(lambda: m1.reads >= 2 and m2.reads >= 2)
            down = datetime.now(TZ).replace(microsecond=0)
            m2.silent = True  # one meter alone: silence alone cannot call it a power cut
            await backend.until(lambda: backend.events(EventKind.OFFLINE, "m2"))
            m1.silent = True
            await backend.until(lambda: backend.events(EventKind.OFFLINE, "m1"))
            up = datetime.now(TZ).replace(microsecond=0)
            m2.power_down = (down, up)  # what the meter itself wrote
            m1.silent = m2.silent = False
            await backend.until(
                lambda: [
                    e
                    for e in backend.events(EventKind.POWER_RESTORED, "m2")
                    if e.text == "meter_record"
                ]
            )
            await backend.until(lambda: backend.events(EventKind.ONLINE, "m1"))
    finally:
        await fake.stop()
    records = [
        (e.kind, e.ts)
        for kind in (EventKind.POWER_FAILURE, EventKind.POWER_RESTORED)
        for e in backend.events(kind, "m2")
        if e.text == "meter_record"
    ]
    assert records == [
        (EventKind.POWER_FAILURE, int(down.timestamp() * 1000)),
        (EventKind.POWER_RESTORED, int(up.timestamp() * 1000)),
    ]
    assert [
        e for e in backend.events(EventKind.POWER_FAILURE, "m1") if e.text == "meter_record"
    ] == []


async def test_a_dlt698_bus_back_from_a_cut_reports_the_meters_own_power_down_records(
    tmp_path: Path, mosquitto: Mosquitto, backend: Backend
) -> None:
    spec = FleetSpec([BusSpec("dlt698", "tcp", meters=2)], clock_error=False)
    async with run_simulators(spec) as fleet:
        endpoint = fleet.endpoints[0]
        a1, a2 = endpoint.meters
        bus = f"""
[[buses]]
name = "gw-698"
transport = "tcp"
protocol = "dlt698"
host = "{endpoint.host}"
port = {endpoint.port}
timeout_ms = 300
inter_frame_gap_ms = 2
offline_after = 2
backoff_max_s = 1

  [[buses.groups]]
  name = "fast"
  every_s = 0.2
  oads = ["00100200"]

  [[buses.meters]]
  id = "p1"
  address = "{a1}"

  [[buses.meters]]
  id = "p2"
  address = "{a2}"
"""
        for address in (a1, a2):
            fleet.meter(address).model.events.power_failures.clear()
        config = agent_toml(tmp_path, mosquitto, bus)
        async with running_agent(config):
            await backend.until(lambda: len(backend.values()) >= 4)
            for address in (a1, a2):  # the transformer trips: the whole bus goes dark
                fleet.meter(address).model.power_fail(fleet.clock())
            await backend.until(
                lambda: all(backend.events(EventKind.POWER_FAILURE, m) for m in ("p1", "p2"))
            )
            for address in (a1, a2):
                fleet.meter(address).model.power_restore(fleet.clock())
            await backend.until(
                lambda: all(
                    [e for e in backend.events(EventKind.POWER_RESTORED, m) if e.text]
                    for m in ("p1", "p2")
                )
            )
    for meter, address in (("p1", a1), ("p2", a2)):
        record = fleet.meter(address).model.events.power_failures[0]
        assert record.end is not None
        got = [
            (e.kind, e.ts)
            for kind in (EventKind.POWER_FAILURE, EventKind.POWER_RESTORED)
            for e in backend.events(kind, meter)
            if e.text == "meter_record"
        ]
        start, end = (int(t.replace(microsecond=0, tzinfo=TZ).timestamp() * 1000)
                      for t in (record.start, record.end))  # fmt: skip
        # the meter's own times, from its 3011 record, at whole seconds
        assert got == [(EventKind.POWER_FAILURE, start), (EventKind.POWER_RESTORED, end)]
        silent = [
            e for e in backend.events(EventKind.POWER_FAILURE, meter) if e.text == "bus_silent"
        ]
        assert len(silent) == 1  # the agent saw the silence first, the meter told the times
        assert silent[0].ts >= got[0][1]
