"""The DL/T 698.45 driver against the simulated meters: over a real serial link (socat pty
pair), over a TCP gateway, relay control with read-back, clock sync, gap filling, probe."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge_agent.config import Bus, BusProtocol, Meter, Parity, PollGroup, Transport
from edge_agent.drivers.base import MeterReplyError, MeterTimeout
from edge_agent.drivers.dlt698 import Dlt698Driver
from edge_agent.secrets import RelayCredentials
from edge_agent.simulators import BusSpec, Fault, FaultKind, Fleet, FleetSpec, run_simulators
from protocols.contract import CommandKind, Quality, Quantity, RelayState
from tests.integration.edge_agent.test_cli import cli
from tests.support.serial import SerialPair

TZ = ZoneInfo("Asia/Shanghai")
M1, M2 = "111111111111", "111111111112"
CREDS = {"m1": RelayCredentials(2, "000000", "1A2B3C4D")}
GROUP = PollGroup(name="g", every_s=1, oads=["00100200", "20000200", "20040200", "20140200"])
METER = Meter(id="m1", address=M1, relay_secret="x", backfill_days=7)


def serial_bus(device: str) -> Bus:
    return Bus(name="rs485", transport=Transport.SERIAL, protocol=BusProtocol.DLT698,
               device=device, baud=9600, parity=Parity.NONE, timeout_ms=1500,
               inter_frame_gap_ms=5)  # fmt: skip


@pytest.fixture
async def line(serial_pair: SerialPair) -> AsyncIterator[tuple[Fleet, Dlt698Driver, Counter[str]]]:
    spec = FleetSpec(
        [BusSpec("dlt698", "serial", meters=2, path=serial_pair.meter)],
        clock_error=False, history_days=4,
    )  # fmt: skip
    async with run_simulators(spec) as fleet:
        errors: Counter[str] = Counter()
        driver = Dlt698Driver(
            serial_bus(serial_pair.agent), TZ, CREDS, lambda k: errors.update([k])
        )
        try:
            yield fleet, driver, errors
        finally:
            await driver.close()


async def test_a_poll_over_a_serial_line_reads_the_group_in_one_list_request(line) -> None:  # type: ignore[no-untyped-def]
    fleet, driver, errors = line
    before = time.time_ns() // 1_000_000
    values = await driver.poll(METER, GROUP)
    after = time.time_ns() // 1_000_000
    by_quantity = {v.quantity: v for v in values}
    model = fleet.meter(M1).model
    registers = model.registers(fleet.clock())
    # 0.01 kWh resolution: the meter shows its register truncated to 10 Wh
    assert by_quantity[Quantity.ENERGY_IMPORT].value == registers[Quantity.ENERGY_IMPORT] // 10 * 10
    assert (
        by_quantity[Quantity.ENERGY_IMPORT_T4].value
        == registers[Quantity.ENERGY_IMPORT_T4] // 10 * 10
    )
    assert 200_000 <= by_quantity[Quantity.VOLTAGE_A].value <= 240_000
    assert by_quantity[Quantity.RELAY_STATE].value == int(RelayState.CONNECTED)
    assert all(before <= v.ts <= after and v.quality is Quality.GOOD for v in values)
    assert fleet.servers[0].stats["requests"] == 1  # the whole group in one GET NormalList
    assert errors == {}


async def test_disconnect_trips_the_relay_and_the_status_word_reads_it_back(line) -> None:  # type: ignore[no-untyped-def]
    fleet, driver, _ = line
    model = fleet.meter(M1).model
    assert await driver.relay(METER, CommandKind.DISCONNECT, 300) is RelayState.DISCONNECTED
    assert model.relay is RelayState.DISCONNECTED
    assert await driver.relay_state(METER) is RelayState.DISCONNECTED
    assert fleet.meter(M2).model.relay is RelayState.CONNECTED  # only the addressed meter

    assert (
        await driver.relay(METER, CommandKind.ARM_RECONNECT, 300)
        is RelayState.READY_FOR_RECONNECTION
    )
    assert await driver.relay_state(METER) is RelayState.READY_FOR_RECONNECTION
    assert model.press_button(fleet.clock())
    assert await driver.relay_state(METER) is RelayState.CONNECTED

    await driver.relay(METER, CommandKind.DISCONNECT, 300)
    assert await driver.relay(METER, CommandKind.RECONNECT, 300) is RelayState.CONNECTED
    assert await driver.relay_state(METER) is RelayState.CONNECTED


async def test_a_relay_command_with_the_wrong_secret_is_refused_by_the_security_layer(line) -> None:  # type: ignore[no-untyped-def]
    fleet, _, _ = line
    bad = Dlt698Driver(line[1].bus, TZ, {"m1": RelayCredentials(2, "654321", "1A2B3C4D")})
    try:
        with pytest.raises(MeterReplyError, match="ESAM_FAILURE"):
            await bad.relay(METER, CommandKind.DISCONNECT, 300)
    finally:
        await bad.close()
    assert fleet.meter(M1).model.relay is RelayState.CONNECTED
    assert fleet.servers[0].stats["refused_security"] == 1


async def test_a_relay_command_without_a_secret_is_not_sent(line) -> None:  # type: ignore[no-untyped-def]
    fleet, driver, _ = line
    with pytest.raises(MeterReplyError, match="relay_secret"):
        await driver.relay(Meter(id="m2", address=M2), CommandKind.DISCONNECT, 300)
    assert fleet.servers[0].stats["requests"] == 0


async def test_clock_drift_is_measured_and_a_clock_set_corrects_it(line) -> None:  # type: ignore[no-untyped-def]
    fleet, driver, _ = line
    model = fleet.meter(M1).model
    now = fleet.clock()
    model.set_clock(now, model.meter_time(now) + timedelta(minutes=5))
    drift = await driver.clock_drift_ms(METER)
    assert drift is not None
    assert 298_000 <= drift <= 302_000
    await driver.time_sync(METER)
    after = await driver.clock_drift_ms(METER)
    assert after is not None
    assert abs(after) <= 2_000
    assert fleet.servers[0].stats["clock_set"] == 1


async def test_gap_filling_reads_only_the_days_frozen_after_the_last_good_poll(line) -> None:  # type: ignore[no-untyped-def]
    fleet, driver, _ = line
    model = fleet.meter(M1).model
    freezes = list(model.frozen)  # newest first: the meter's last four midnights
    assert len(freezes) >= 3
    since = int(freezes[2].at.replace(tzinfo=TZ).timestamp() * 1000) + 3_600_000
    values = await driver.backfill(METER, since)
    got = sorted(
        (v.ts, v.quantity, v.value) for v in values if v.quantity is Quantity.ENERGY_IMPORT
    )
    want = sorted(
        (
            int(f.at.replace(tzinfo=TZ).timestamp() * 1000),
            Quantity.ENERGY_IMPORT,
            f.import_wh[0] // 10 * 10,
        )
        for f in freezes[:2]
    )
    assert got == want
    assert all(v.quality is Quality.BACKFILLED for v in values)


async def test_garbage_before_the_answer_is_skipped(line) -> None:  # type: ignore[no-untyped-def]
    fleet, driver, _ = line
    fleet.set_fault(M1, Fault(FaultKind.GARBAGE, garbage_bytes=40))
    values = await driver.poll(METER, GROUP)
    assert Quantity.ENERGY_IMPORT in {v.quantity for v in values}


async def test_a_silent_meter_times_out_and_its_late_answer_is_not_taken_later(line) -> None:  # type: ignore[no-untyped-def]
    fleet, driver, errors = line
    fleet.set_fault(M1, Fault(FaultKind.SLOW, delay_s=3.0))  # the driver waits 1.5 s
    with pytest.raises(MeterTimeout):
        await driver.poll(METER, GROUP)
    fleet.set_fault(M1, None)
    driver.timeout = 6.0  # the bus answers this poll only after the slow answer (half duplex)
    values = await driver.poll(METER, GROUP)  # the slow answer to the first poll arrives now
    assert Quantity.ENERGY_IMPORT in {v.quantity for v in values}
    assert errors["UnexpectedReply"] == 1  # paired by PIID: counted, not taken for this answer


async def test_the_driver_works_through_a_tcp_transparent_gateway() -> None:
    spec = FleetSpec([BusSpec("dlt698", "tcp", meters=1)], clock_error=False)
    async with run_simulators(spec) as fleet:
        endpoint = fleet.endpoints[0]
        bus = Bus(name="gw", transport=Transport.TCP, protocol=BusProtocol.DLT698,
                  host=endpoint.host, port=endpoint.port, timeout_ms=1500)  # fmt: skip
        driver = Dlt698Driver(bus, TZ, CREDS)
        try:
            values = await driver.poll(METER, GROUP)
            assert Quantity.ENERGY_IMPORT in {v.quantity for v in values}
            assert await driver.relay(METER, CommandKind.DISCONNECT, 300) is RelayState.DISCONNECTED
            assert await driver.relay_state(METER) is RelayState.DISCONNECTED
        finally:
            await driver.close()


async def test_probe_dlt698_reads_a_simulated_meter_and_prints_json() -> None:
    spec = FleetSpec([BusSpec("dlt698", "tcp", meters=1)], clock_error=False)
    async with run_simulators(spec) as fleet:
        endpoint = fleet.endpoints[0]
        code, out, err = await cli(
            "probe", "dlt698", "--tcp", f"{endpoint.host}:{endpoint.port}", "--address", M1
        )
    assert code == 0, err
    values = {v["quantity"]: v["value"] for v in json.loads(out)["values"]}
    assert {"energy_import", "voltage_a", "current_a", "active_power", "relay_state"} <= set(values)
    assert values["relay_state"] == int(RelayState.CONNECTED)


async def test_probe_dlt698_rejects_an_oad_outside_the_table() -> None:
    code, _, err = await cli(
        "probe", "dlt698", "--tcp", "127.0.0.1:1", "--address", M1, "--oad", "12340200"
    )
    assert code == 4
    assert "12340200" in err


async def test_the_latest_power_down_event_record_is_read_at_the_meters_own_times(line) -> None:  # type: ignore[no-untyped-def]
    fleet, driver, errors = line
    model = fleet.meter(M1).model
    model.events.power_failures.clear()
    assert await driver.last_power_down(METER) is None  # never lost supply: no record

    model.power_fail(fleet.clock())
    with pytest.raises(MeterTimeout):  # without supply the meter answers nothing
        await driver.last_power_down(METER)
    model.power_restore(fleet.clock() + 90_000)  # back 90 s later (the meter's clock says)
    record = model.events.power_failures[0]
    assert record.end is not None

    def utc_ms(local: datetime) -> int:
        return int(local.replace(microsecond=0, tzinfo=TZ).timestamp() * 1000)

    assert await driver.last_power_down(METER) == (utc_ms(record.start), utc_ms(record.end))
    assert utc_ms(record.end) - utc_ms(record.start) >= 89_000  # the 90 s the meter was dark

    model.power_fail(fleet.clock() + 120_000)  # a cut still lasting as the meter sees it
    model.powered = True  # (the meter answers, e.g. on its battery, before it wrote the end)
    start, end = await driver.last_power_down(METER) or (0, 0)
    assert (start, end) == (utc_ms(model.events.power_failures[0].start), None)
    assert errors == {}
