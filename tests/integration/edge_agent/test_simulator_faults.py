"""Injected faults behave as named, and with timing enforced a frame takes its wire time."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from pymodbus.framer import FramerRTU
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest

from edge_agent.simulators import (
    BusSpec,
    Fault,
    FaultKind,
    Fleet,
    FleetSpec,
    ManualClock,
    run_simulators,
)
from protocols.contract.messages import RelayState
from protocols.dlt645 import (
    MeterTime,
    Password,
    RelayAction,
    encode_frame,
    parse_read_reply,
    read_request,
    relay_control,
)
from tests.support.sim_clients import Dlt645Client, RtuClient, dlt645_client, rtu_client

START = int((datetime(2025, 3, 3, 11, 0) - datetime(1970, 1, 1)).total_seconds() * 1000)
M1, M2 = "111111111111", "111111111112"
ENERGY = 0x00010000
TRIP = relay_control(M1, RelayAction.TRIP, Password(2, "000000"), "00000001", MeterTime(2030, 1, 1))
CLEAN_REPLY = 4 + 12 + 4 + 4  # FE×4, header and trailer, DI, XXXXXX.XX


@pytest.fixture
async def dlt645() -> AsyncIterator[tuple[Fleet, Dlt645Client]]:
    spec = FleetSpec([BusSpec("dlt645", "tcp", meters=2)], clock_error=False)
    async with run_simulators(spec, ManualClock(START)) as fleet:
        client = await dlt645_client(fleet.endpoints[0])
        yield fleet, client
        await client.close()


async def test_a_silent_meter_neither_answers_nor_acts(dlt645: tuple[Fleet, Dlt645Client]) -> None:
    fleet, client = dlt645
    fleet.set_fault(M1, Fault(FaultKind.SILENT))
    await client.send(encode_frame(TRIP))
    assert (await client.ask(read_request(M2, ENERGY))).address == M2  # first answer: M2's
    assert fleet.meter(M1).model.relay is RelayState.CONNECTED
    fleet.set_fault(M1, None)
    assert (await client.ask(read_request(M1, ENERGY))).address == M1


async def test_a_lost_reply_still_lets_the_meter_act(dlt645: tuple[Fleet, Dlt645Client]) -> None:
    fleet, client = dlt645
    fleet.set_fault(M1, Fault(FaultKind.REPLY_LOST))
    await client.send(encode_frame(TRIP))
    assert (await client.ask(read_request(M2, ENERGY))).address == M2
    assert fleet.meter(M1).model.relay is RelayState.DISCONNECTED


async def test_a_slow_meter_answers_after_its_delay(dlt645: tuple[Fleet, Dlt645Client]) -> None:
    fleet, client = dlt645
    fleet.set_fault(M1, Fault(FaultKind.SLOW, delay_s=0.3))
    started = time.perf_counter()
    reply = await client.ask(read_request(M1, ENERGY))
    assert time.perf_counter() - started >= 0.3
    assert parse_read_reply(reply, ENERGY).di == ENERGY


async def test_garbage_before_the_reply_is_line_noise_the_decoder_skips(
    dlt645: tuple[Fleet, Dlt645Client],
) -> None:
    fleet, client = dlt645
    fleet.set_fault(M1, Fault(FaultKind.GARBAGE, garbage_bytes=11))
    reply = await client.ask(read_request(M1, ENERGY))
    assert parse_read_reply(reply, ENERGY).di == ENERGY
    assert len(client.received) == 11 + CLEAN_REPLY


async def test_garbage_instead_of_the_reply_yields_no_frame(
    dlt645: tuple[Fleet, Dlt645Client],
) -> None:
    fleet, client = dlt645
    fleet.set_fault(M1, Fault(FaultKind.GARBAGE_ONLY, garbage_bytes=30))
    await client.send(encode_frame(read_request(M1, ENERGY)))
    client.decoder.feed(await client.read_at_least(30))
    assert (await client.ask(read_request(M2, ENERGY))).address == M2
    assert len(client.received) == 30 + CLEAN_REPLY


async def test_a_bad_checksum_is_caught_by_the_decoder(dlt645: tuple[Fleet, Dlt645Client]) -> None:
    fleet, client = dlt645
    fleet.set_fault("*", Fault(FaultKind.BAD_CHECKSUM))
    await client.send(encode_frame(read_request(M1, ENERGY)))
    client.decoder.feed(await client.read_at_least(CLEAN_REPLY))
    fleet.set_fault("*", None)
    assert (await client.ask(read_request(M2, ENERGY))).address == M2
    assert client.errors == {"BadChecksum": 1}


async def test_a_meter_without_supply_is_silent(dlt645: tuple[Fleet, Dlt645Client]) -> None:
    fleet, client = dlt645
    fleet.meter(M1).model.power_fail(fleet.clock())
    await client.send(encode_frame(read_request(M1, ENERGY)))
    assert (await client.ask(read_request(M2, ENERGY))).address == M2
    fleet.meter(M1).model.power_restore(fleet.clock())
    assert (await client.ask(read_request(M1, ENERGY))).address == M1


@pytest.fixture
async def rtu() -> AsyncIterator[tuple[Fleet, RtuClient]]:
    spec = FleetSpec([BusSpec("modbus", "pty", meters=2, register_map="generic_prepaid")])
    async with run_simulators(spec, ManualClock(START)) as fleet:
        client = await rtu_client(fleet.endpoints[0])
        yield fleet, client
        await client.close()


def read_state(unit: int) -> ReadHoldingRegistersRequest:
    return ReadHoldingRegistersRequest(address=0x0100, count=1, dev_id=unit)


def crc_ok(frame: bytes) -> bool:
    return FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big"))


async def test_rtu_faults_break_the_crc_add_noise_or_silence(rtu: tuple[Fleet, RtuClient]) -> None:
    fleet, client = rtu
    fleet.set_fault("1", Fault(FaultKind.BAD_CHECKSUM))
    await client.send(client.frame(read_state(1)))
    broken = await client.read_at_least(7)
    assert len(broken) == 7
    assert not crc_ok(broken)
    fleet.set_fault("1", Fault(FaultKind.GARBAGE, garbage_bytes=5))
    await client.send(client.frame(read_state(1)))
    noisy = await client.read_at_least(5 + 7)
    assert len(noisy) == 12
    assert crc_ok(noisy[5:])
    fleet.set_fault("1", Fault(FaultKind.SILENT))
    await client.send(client.frame(read_state(1)))
    assert (await client.ask(read_state(2))).dev_id == 2


async def test_a_dlt645_frame_takes_at_least_its_wire_time_when_timing_is_enforced() -> None:
    spec = FleetSpec([BusSpec("dlt645", "pty", meters=1, enforce_timing=True, baud=2400)])
    async with run_simulators(spec, ManualClock(START)) as fleet:
        client = await dlt645_client(fleet.endpoints[0])
        request = encode_frame(read_request(M1, ENERGY))
        started = time.perf_counter()
        await client.ask(read_request(M1, ENERGY))
        elapsed = time.perf_counter() - started
        await client.close()
    wire = (len(request) + CLEAN_REPLY) * 11 / 2400 + 0.020  # bytes, 8E1, turnaround
    assert elapsed >= wire


async def test_a_modbus_rtu_frame_takes_at_least_its_wire_time_when_timing_is_enforced() -> None:
    spec = FleetSpec([BusSpec("modbus", "pty", meters=1, enforce_timing=True, baud=9600,
                              register_map="generic_prepaid")])  # fmt: skip
    async with run_simulators(spec, ManualClock(START)) as fleet:
        client = await rtu_client(fleet.endpoints[0])
        started = time.perf_counter()
        await client.ask(ReadHoldingRegistersRequest(address=0, count=30, dev_id=1))
        elapsed = time.perf_counter() - started
        await client.close()
    wire = (8 + 5 + 60 + 3.5) * 11 / 9600  # request, reply, 3.5-character gap
    assert elapsed >= wire


async def test_bad_requests_are_counted_and_the_bus_keeps_answering(
    dlt645: tuple[Fleet, Dlt645Client], rtu: tuple[Fleet, RtuClient]
) -> None:
    fleet, client = dlt645
    bad = bytearray(encode_frame(read_request(M1, ENERGY)))
    bad[-2] ^= 0xFF  # our own request with a broken checksum
    await client.send(b"\x00\x68\x12" + bytes(bad))
    assert (await client.ask(read_request(M2, ENERGY))).address == M2
    assert fleet.servers[0].stats["frame_errors"] == 1

    modbus, rtu_link = rtu
    too_many = ReadHoldingRegistersRequest(address=0, count=1, dev_id=1)
    frame = bytearray(rtu_link.frame(too_many))
    frame[4:6] = (200).to_bytes(2, "big")  # 200 registers: more than Modbus allows
    crc = FramerRTU.compute_CRC(bytes(frame[:-2]))
    await rtu_link.send(bytes(frame[:-2]) + crc.to_bytes(2, "big"))
    refused = await rtu_link.receive()
    assert refused.isError()
    assert refused.exception_code == 3
    assert (await rtu_link.ask(read_state(2))).registers == [RelayState.CONNECTED]
    assert modbus.servers[0].stats["bad_requests"] == 1
