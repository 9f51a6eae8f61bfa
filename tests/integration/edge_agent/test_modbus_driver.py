"""The Modbus driver (pymodbus) against the Modbus simulators: TCP, RTU over TCP, and RTU
over a real serial link (socat pty pair); relay control through the map's relay entries."""

from __future__ import annotations

import time

import pytest

from edge_agent.config import Bus, BusProtocol, Meter, PollGroup, Transport
from edge_agent.drivers.base import MeterTimeout
from edge_agent.drivers.modbus import ModbusDriver
from edge_agent.simulators import BusSpec, FleetSpec, run_simulators
from protocols.contract import CommandKind, Quality, Quantity, RelayState
from tests.support.serial import SerialPair

ALL = PollGroup(name="all", every_s=1)
ENERGY = PollGroup(
    name="energy", every_s=900, quantities=[Quantity.ENERGY_IMPORT, Quantity.ENERGY_EXPORT]
)


def tcp_bus(port: int, protocol: BusProtocol = BusProtocol.MODBUS_TCP) -> Bus:
    return Bus(name="mb", transport=Transport.TCP, protocol=protocol, host="127.0.0.1",
               port=port, timeout_ms=500)  # fmt: skip


async def test_a_modbus_tcp_poll_decodes_the_map_in_block_reads() -> None:
    spec = FleetSpec([BusSpec("modbus", "tcp", meters=2)], clock_error=False)
    async with run_simulators(spec) as fleet:
        driver = ModbusDriver(tcp_bus(fleet.endpoints[0].port))
        try:
            before = time.time_ns() // 1_000_000
            values = await driver.poll(Meter(id="sdm", unit=2, map="sdm630"), ALL)
            after = time.time_ns() // 1_000_000
            plan = driver._plans[("sdm", "all")].requests
        finally:
            await driver.close()
    quantities = {v.quantity for v in values}
    assert {Quantity.ENERGY_IMPORT, Quantity.VOLTAGE_A, Quantity.FREQUENCY} <= quantities
    assert all(before <= v.ts <= after and v.quality is Quality.GOOD for v in values)
    assert len(plan) < len(values)  # adjacent registers merged into few requests
    assert 45_000 <= next(v.value for v in values if v.quantity is Quantity.FREQUENCY) <= 55_000


async def test_a_poll_group_reads_only_its_quantities() -> None:
    spec = FleetSpec([BusSpec("modbus", "tcp", meters=1)], clock_error=False)
    async with run_simulators(spec) as fleet:
        driver = ModbusDriver(tcp_bus(fleet.endpoints[0].port))
        try:
            values = await driver.poll(Meter(id="sdm", unit=1, map="sdm630"), ENERGY)
        finally:
            await driver.close()
    assert {v.quantity for v in values} == {Quantity.ENERGY_IMPORT, Quantity.ENERGY_EXPORT}


async def test_rtu_frames_through_a_tcp_gateway_are_read() -> None:
    spec = FleetSpec([BusSpec("modbus", "tcp", meters=1, rtu_over_tcp=True)], clock_error=False)
    async with run_simulators(spec) as fleet:
        driver = ModbusDriver(tcp_bus(fleet.endpoints[0].port, BusProtocol.MODBUS_RTU))
        try:
            values = await driver.poll(Meter(id="sdm", unit=1, map="sdm630"), ENERGY)
        finally:
            await driver.close()
    assert {v.quantity for v in values} == {Quantity.ENERGY_IMPORT, Quantity.ENERGY_EXPORT}


async def test_modbus_rtu_over_a_serial_line(serial_pair: SerialPair) -> None:
    spec = FleetSpec([BusSpec("modbus", "serial", meters=1, path=serial_pair.meter)],
                     clock_error=False)  # fmt: skip
    bus = Bus(name="rtu", transport=Transport.SERIAL, protocol=BusProtocol.MODBUS_RTU,
              device=serial_pair.agent, baud=9600, timeout_ms=1000)  # fmt: skip
    async with run_simulators(spec):
        driver = ModbusDriver(bus)
        try:
            values = await driver.poll(Meter(id="sdm", unit=1, map="sdm630"), ENERGY)
        finally:
            await driver.close()
    assert {v.quantity for v in values} == {Quantity.ENERGY_IMPORT, Quantity.ENERGY_EXPORT}


async def test_a_unit_that_does_not_answer_times_out() -> None:
    spec = FleetSpec([BusSpec("modbus", "tcp", meters=1, rtu_over_tcp=True)], clock_error=False)
    async with run_simulators(spec) as fleet:
        driver = ModbusDriver(tcp_bus(fleet.endpoints[0].port, BusProtocol.MODBUS_RTU))
        try:
            with pytest.raises(MeterTimeout):
                await driver.poll(Meter(id="ghost", unit=9, map="sdm630"), ENERGY)
        finally:
            await driver.close()


async def test_disconnect_and_reconnect_through_the_maps_relay_registers() -> None:
    spec = FleetSpec([BusSpec("modbus", "tcp", meters=1, register_map="generic_prepaid")],
                     clock_error=False)  # fmt: skip
    meter = Meter(id="pp", unit=1, map="generic_prepaid")
    async with run_simulators(spec) as fleet:
        driver = ModbusDriver(tcp_bus(fleet.endpoints[0].port))
        try:
            assert await driver.relay_state(meter) is RelayState.CONNECTED
            expected = await driver.relay(meter, CommandKind.DISCONNECT, 300)
            assert expected is RelayState.DISCONNECTED
            assert await driver.relay_state(meter) is RelayState.DISCONNECTED
            expected = await driver.relay(meter, CommandKind.RECONNECT, 300)
            assert await driver.relay_state(meter) is expected
            assert fleet.meter("1").model.relay is expected
        finally:
            await driver.close()
