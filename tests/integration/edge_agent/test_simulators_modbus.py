"""Simulated Modbus meters answer pymodbus clients over TCP, a pty and a socat pair, and mbpoll."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from fractions import Fraction

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    WriteSingleRegisterRequest,
)

from edge_agent.simulators import BusSpec, Fleet, FleetSpec, ManualClock, run_simulators
from edge_agent.simulators.modbus_server import ModbusServer
from protocols.contract.messages import RelayState
from protocols.contract.quantities import Quantity as Q
from protocols.modbus import Function, Reading, decode_blocks, load_map, plan_reads
from tests.support.serial import SerialPair, serial_pair  # noqa: F401 - fixture
from tests.support.services import missing
from tests.support.sim_clients import rtu_client

START = int((datetime(2025, 3, 4, 2, 0) - datetime(1970, 1, 1)).total_seconds() * 1000)  # 10:00
PREPAID = load_map("generic_prepaid")
STATE, CONTROL = 0x0100, 0x0101


def spec(register_map: str = "generic_prepaid", transport: str = "tcp", **bus: object) -> FleetSpec:
    return FleetSpec(
        [BusSpec("modbus", transport, meters=3, register_map=register_map, **bus)],  # type: ignore[arg-type]
        clock_error=False,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def read_plan(client, register_map_name: str, unit: int) -> dict:  # type: ignore[no-untyped-def]
    """What the agent's driver does: the planner's reads, decoded by the codec."""
    register_map = load_map(register_map_name)
    replies = {}
    for request in plan_reads(register_map, unit=unit):
        call = {
            Function.HOLDING: client.read_holding_registers,
            Function.INPUT: client.read_input_registers,
        }[request.function]
        response = await call(request.start, count=request.count, device_id=unit)
        assert not response.isError(), response
        replies[request] = response.registers
    return {
        r.quantity: r.value for r in decode_blocks(register_map, replies) if isinstance(r, Reading)
    }


def resolution(server: ModbusServer, quantity: object, value: int) -> float:
    """The smallest step a register can show near ``value``, in contract units."""
    reg = server.register_map.register(quantity)  # type: ignore[arg-type]
    if reg.data_type.value == "float32":
        return abs(value) * 2**-23 + 1
    sf = server.images["2"].scale_factors.get(reg.scale_factor_address, 0)  # type: ignore[arg-type]
    return float(reg.scale * Fraction(10) ** sf * reg.factor)


@pytest.mark.parametrize("map_name", ["sdm630", "sunspec_meter", "generic_prepaid"])
async def test_a_tcp_meter_answers_the_planned_reads_with_its_model_values(
    map_name: str, clock: ManualClock
) -> None:
    async with run_simulators(spec(map_name), clock) as fleet:
        endpoint = fleet.endpoints[0]
        client = AsyncModbusTcpClient(endpoint.host, port=endpoint.port)
        await client.connect()
        got = await read_plan(client, map_name, unit=2)
        client.close()
        server = fleet.servers[0]
        assert isinstance(server, ModbusServer)
        truth = fleet.meter("2").model.readings(clock())
        assert len(got) >= 10
        assert got.pop(Q.RELAY_STATE, RelayState.CONNECTED) == truth[Q.RELAY_STATE]
        for quantity, value in got.items():
            assert abs(value - truth[quantity]) <= resolution(server, quantity, value), quantity


async def test_an_rtu_meter_answers_on_its_own_pty(clock: ManualClock) -> None:
    async with run_simulators(spec("sdm630", "pty"), clock) as fleet:
        client = AsyncModbusSerialClient(fleet.endpoints[0].path, baudrate=9600, timeout=2)
        await client.connect()
        got = await read_plan(client, "sdm630", unit=3)
        client.close()
        truth = fleet.meter("3").model.readings(clock())
        assert got == pytest.approx({q: truth[q] for q in got}, rel=2**-23, abs=1)  # float32


async def test_an_rtu_meter_answers_over_a_socat_serial_pair(
    clock: ManualClock,
    serial_pair: SerialPair,  # noqa: F811
) -> None:
    async with run_simulators(spec("generic_prepaid", "serial", path=serial_pair.meter), clock):
        client = AsyncModbusSerialClient(serial_pair.agent, baudrate=9600, timeout=2)
        await client.connect()
        response = await client.read_holding_registers(STATE, count=1, device_id=1)
        client.close()
        assert response.registers == [RelayState.CONNECTED]


async def test_mbpoll_reads_the_same_registers_as_pymodbus(clock: ManualClock) -> None:
    mbpoll = shutil.which("mbpoll")
    if mbpoll is None:
        missing("mbpoll", "apt-get install mbpoll")
    assert mbpoll
    async with run_simulators(spec(), clock) as fleet:
        endpoint = fleet.endpoints[0]
        process = await asyncio.create_subprocess_exec(
            mbpoll, "-m", "tcp", "-p", str(endpoint.port), "-a", "2", "-t", "4", "-0",
            "-r", "0", "-c", "10", "-1", endpoint.host,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 0, err.decode()
        seen = {int(a): int(v) for a, v in re.findall(r"^\[(\d+)\]:\s+(-?\d+)", out.decode(), re.M)}
        client = AsyncModbusTcpClient(endpoint.host, port=endpoint.port)
        await client.connect()
        response = await client.read_holding_registers(0, count=10, device_id=2)
        client.close()
        assert [seen[a] & 0xFFFF for a in range(10)] == response.registers
        energy_wh = (seen[1] & 0xFFFF) << 16 | (seen[0] & 0xFFFF)  # CDAB, in 0.01 kWh
        assert (
            energy_wh * 10 == fleet.meter("2").model.registers(clock())[Q.ENERGY_IMPORT] // 10 * 10
        )


@pytest.fixture
async def prepaid(clock: ManualClock) -> AsyncIterator[tuple[Fleet, AsyncModbusTcpClient]]:
    async with run_simulators(spec(), clock) as fleet:
        client = AsyncModbusTcpClient(fleet.endpoints[0].host, port=fleet.endpoints[0].port)
        await client.connect()
        yield fleet, client
        client.close()


async def relay_state(client: AsyncModbusTcpClient, unit: int = 1) -> RelayState:
    response = await client.read_holding_registers(STATE, count=1, device_id=unit)
    return RelayState(response.registers[0])


async def test_writes_to_the_relay_register_operate_the_meters_relay(
    prepaid: tuple[Fleet, AsyncModbusTcpClient], clock: ManualClock
) -> None:
    fleet, client = prepaid
    assert not (await client.write_register(CONTROL, 0x1A, device_id=1)).isError()
    assert await relay_state(client) is RelayState.DISCONNECTED
    assert fleet.meter("1").model.readings(clock())[Q.ACTIVE_POWER] == 0
    await client.write_register(CONTROL, 0x1B, device_id=1)  # arm: 合闸允许
    assert await relay_state(client) is RelayState.READY_FOR_RECONNECTION
    assert fleet.meter("1").model.press_button(clock())
    assert await relay_state(client) is RelayState.CONNECTED
    await client.write_register(CONTROL, 0x1A, device_id=1)
    await client.write_register(CONTROL, 0x1C, device_id=1)  # close directly
    assert await relay_state(client) is RelayState.CONNECTED
    assert await relay_state(client, unit=2) is RelayState.CONNECTED


async def test_writes_elsewhere_are_refused_with_the_modbus_exception(
    prepaid: tuple[Fleet, AsyncModbusTcpClient],
) -> None:
    _, client = prepaid
    wrong_value = await client.write_register(CONTROL, 0x99, device_id=1)
    assert wrong_value.isError()
    assert wrong_value.exception_code == ExcCodes.ILLEGAL_VALUE
    read_only = await client.write_register(0x0010, 1, device_id=1)
    assert read_only.isError()
    assert read_only.exception_code == ExcCodes.ILLEGAL_ADDRESS
    outside = await client.read_holding_registers(0x2000, count=2, device_id=1)
    assert outside.isError()
    assert outside.exception_code == ExcCodes.ILLEGAL_ADDRESS
    assert await relay_state(client) is RelayState.CONNECTED


async def test_an_unknown_unit_behind_tcp_gets_the_gateway_exception(
    prepaid: tuple[Fleet, AsyncModbusTcpClient],
) -> None:
    _, client = prepaid
    response = await client.read_holding_registers(0, count=2, device_id=9)
    assert response.isError()
    assert response.exception_code == ExcCodes.GATEWAY_NO_RESPONSE


async def test_an_unknown_unit_on_a_serial_line_is_silent(clock: ManualClock) -> None:
    async with run_simulators(spec("generic_prepaid", "pty"), clock) as fleet:
        client = await rtu_client(fleet.endpoints[0])
        await client.send(
            client.frame(ReadHoldingRegistersRequest(address=STATE, count=1, dev_id=9))
        )
        response = await client.ask(ReadHoldingRegistersRequest(address=STATE, count=1, dev_id=2))
        assert response.dev_id == 2  # the first answer on the line is unit 2's
        assert fleet.servers[0].stats["ignored"] == 1
        await client.close()


async def test_a_broadcast_write_trips_every_meter_and_gets_no_reply(clock: ManualClock) -> None:
    async with run_simulators(spec("generic_prepaid", "pty"), clock) as fleet:
        client = await rtu_client(fleet.endpoints[0])
        await client.send(
            client.frame(WriteSingleRegisterRequest(address=CONTROL, registers=[0x1A], dev_id=0))
        )
        response = await client.ask(ReadHoldingRegistersRequest(address=STATE, count=1, dev_id=3))
        assert response.registers == [RelayState.DISCONNECTED]
        assert {m.model.relay for m in fleet.servers[0].meters.values()} == {
            RelayState.DISCONNECTED
        }
        await client.close()
