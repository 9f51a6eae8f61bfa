"""The DL/T 645 driver over a real serial link (socat pty pair) and over TCP."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge_agent.config import Bus, BusProtocol, Meter, Parity, PollGroup, Transport
from edge_agent.drivers.base import MeterReplyError, MeterTimeout
from edge_agent.drivers.dlt645 import Dlt645Driver
from edge_agent.secrets import RelayCredentials
from edge_agent.simulators import BusSpec, FleetSpec, ManualClock, run_simulators
from protocols.contract import CommandKind, Quality, Quantity, RelayState
from tests.support.dlt645_meter import TZ, FakeBus, FakeMeter
from tests.support.serial import SerialPair

ADDRESS = "310000000001"
CREDS = {"m1": RelayCredentials(2, "123456", "1A2B3C4D")}
GROUP = PollGroup(name="g", every_s=1, dis=["00010000", "02010100"])
METER = Meter(id="m1", address=ADDRESS, relay_secret="x")


def serial_bus(device: str) -> Bus:
    return Bus(name="rs485", transport=Transport.SERIAL, protocol=BusProtocol.DLT645,
               device=device, baud=9600, parity=Parity.NONE, timeout_ms=400,
               inter_frame_gap_ms=5)  # fmt: skip


@pytest.fixture
async def line(
    serial_pair: SerialPair,
) -> AsyncIterator[tuple[FakeMeter, Dlt645Driver, Counter[str]]]:
    meter = FakeMeter(ADDRESS)
    bus = FakeBus(meter)
    await bus.start_serial(serial_pair.meter)
    errors: Counter[str] = Counter()
    driver = Dlt645Driver(serial_bus(serial_pair.agent), TZ, CREDS, lambda k: errors.update([k]))
    yield meter, driver, errors
    await driver.close()
    await bus.stop()


async def test_a_poll_over_a_serial_line_returns_values_stamped_when_read(line) -> None:  # type: ignore[no-untyped-def]
    meter, driver, _ = line
    before = time.time_ns() // 1_000_000
    values = await driver.poll(METER, GROUP)
    after = time.time_ns() // 1_000_000
    by_quantity = {v.quantity: v for v in values}
    assert by_quantity[Quantity.ENERGY_IMPORT].value == meter.energy_wh
    assert by_quantity[Quantity.VOLTAGE_A].value == 229_800
    assert all(before <= v.ts <= after and v.quality is Quality.GOOD for v in values)


async def test_garbage_before_the_reply_is_counted_and_skipped(line) -> None:  # type: ignore[no-untyped-def]
    meter, driver, errors = line
    meter.garbage = b"\x68\x11\x22\xff\x00\x68\x99\x99\x99\x99\x99\x99\x68\x91\x05\x00\x16" * 2
    values = await driver.poll(METER, GROUP)
    assert {v.quantity for v in values} == {Quantity.ENERGY_IMPORT, Quantity.VOLTAGE_A}
    assert sum(errors.values()) >= 2


async def test_a_silent_meter_times_out(line) -> None:  # type: ignore[no-untyped-def]
    meter, driver, _ = line
    meter.silent = True
    with pytest.raises(MeterTimeout):
        await driver.poll(METER, GROUP)


async def test_disconnect_trips_the_relay_and_the_status_word_reads_it_back(line) -> None:  # type: ignore[no-untyped-def]
    meter, driver, _ = line
    expected = await driver.relay(METER, CommandKind.DISCONNECT, 300)
    assert expected is RelayState.DISCONNECTED
    assert meter.relay_commands == [0x1A]
    assert await driver.relay_state(METER) is RelayState.DISCONNECTED
    await driver.relay(METER, CommandKind.ARM_RECONNECT, 300)
    assert await driver.relay_state(METER) is RelayState.READY_FOR_RECONNECTION


async def test_a_relay_command_is_valid_by_the_meters_own_clock_however_fast_it_runs() -> None:
    """The meter judges the 1CH deadline by its clock: six hours ahead of ours here (as a fast
    meter, or the demo's 60x simulated clocks), a deadline from our clock would be past."""
    ahead = ManualClock(time.time_ns() // 1_000_000 + 6 * 3_600_000)
    spec = FleetSpec([BusSpec("dlt645", "tcp", meters=1)], clock_error=False)
    async with run_simulators(spec, ahead) as fleet:
        (endpoint,) = fleet.endpoints
        bus = Bus(name="gw", transport=Transport.TCP, protocol=BusProtocol.DLT645,
                  host=endpoint.host, port=endpoint.port, timeout_ms=1000)  # fmt: skip
        meter = Meter(id="m1", address=endpoint.meters[0], relay_secret="x")
        driver = Dlt645Driver(bus, TZ, {"m1": RelayCredentials(2, "000000", "00000000")})
        try:
            assert await driver.relay(meter, CommandKind.DISCONNECT, 300) is (
                RelayState.DISCONNECTED
            )
            assert await driver.relay_state(meter) is RelayState.DISCONNECTED
            assert await driver.relay(meter, CommandKind.RECONNECT, 300) is RelayState.CONNECTED
            assert await driver.relay_state(meter) is RelayState.CONNECTED
        finally:
            await driver.close()
    assert fleet.servers[0].stats["refused_expired"] == 0


async def test_a_wrong_relay_password_is_a_refusal_not_a_timeout(line) -> None:  # type: ignore[no-untyped-def]
    meter, driver, _ = line
    meter.password = "654321"
    with pytest.raises(MeterReplyError, match="UNAUTHORISED"):
        await driver.relay(METER, CommandKind.DISCONNECT, 300)
    assert meter.relay is RelayState.CONNECTED


async def test_clock_drift_is_measured_and_broadcast_time_corrects_it(line) -> None:  # type: ignore[no-untyped-def]
    meter, driver, _ = line
    meter.clock_offset = timedelta(minutes=5)
    drift = await driver.clock_drift_ms(METER)
    assert drift is not None
    assert 298_000 <= drift <= 302_000
    await driver.time_sync(METER)
    drift_after = await driver.clock_drift_ms(METER)
    assert drift_after is not None
    assert abs(drift_after) <= 2_000
    assert meter.time_syncs == 1


async def test_gap_filling_reads_only_the_days_frozen_after_the_last_good_poll(line) -> None:  # type: ignore[no-untyped-def]
    meter, driver, _ = line
    midnight = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    meter.frozen = [(midnight - timedelta(days=n), 5_000_000 - n * 10_000) for n in range(5)]
    last_ok = int((midnight - timedelta(days=2, hours=12)).timestamp() * 1000)
    values = await driver.backfill(METER, last_ok)
    got = sorted((v.ts, v.value) for v in values)
    want = sorted(
        (int((midnight - timedelta(days=n)).timestamp() * 1000), 5_000_000 - n * 10_000)
        for n in range(3)
    )
    assert got == want
    assert all(v.quality is Quality.BACKFILLED for v in values)


async def test_the_driver_works_through_a_tcp_transparent_gateway() -> None:
    meter = FakeMeter(ADDRESS)
    fake = FakeBus(meter)
    port = await fake.start_tcp()
    bus = Bus(name="gw", transport=Transport.TCP, protocol=BusProtocol.DLT645,
              host="127.0.0.1", port=port, timeout_ms=500)  # fmt: skip
    driver = Dlt645Driver(bus, ZoneInfo("Asia/Shanghai"), CREDS)
    try:
        values = await driver.poll(METER, GROUP)
        assert {v.quantity for v in values} == {Quantity.ENERGY_IMPORT, Quantity.VOLTAGE_A}
    finally:
        await driver.close()
        await fake.stop()
