"""The agent's own Modbus TCP client (edge_agent/drivers/modbus_tcp.py) against the Modbus
simulator: the same words and values as pymodbus, exception responses, silence, and replies
the stream cannot carry (noise instead of a reply, a frame announcing more than follows)."""

from __future__ import annotations

import pytest
from pymodbus.client import AsyncModbusTcpClient

from edge_agent.config import Bus, BusProtocol, Meter, PollGroup, Transport
from edge_agent.drivers.base import MeterReplyError, MeterTimeout
from edge_agent.drivers.modbus import ModbusDriver
from edge_agent.drivers.modbus_tcp import TcpLink
from edge_agent.simulators import BusSpec, FleetSpec, run_simulators
from edge_agent.simulators.faults import Fault, FaultKind
from protocols.modbus import Function, Reading, ReadRequest, decode_blocks

NOW_MS = 1_780_000_000_000  # a frozen simulator clock: every read sees the same registers
ALL = PollGroup(name="all", every_s=1)
SPEC = FleetSpec([BusSpec("modbus", "tcp", meters=2)], clock_error=False)
FIRST_BLOCK = ReadRequest(1, Function.INPUT, 0, 12)  # sdm630: U, I and P per phase


def frozen() -> int:
    return NOW_MS


async def test_a_poll_reads_the_same_words_and_values_as_pymodbus() -> None:
    meter = Meter(id="sdm", unit=2, map="sdm630")
    async with run_simulators(SPEC, clock=frozen) as fleet:
        port = fleet.endpoints[0].port
        bus = Bus(name="mb", transport=Transport.TCP, protocol=BusProtocol.MODBUS_TCP,
                  host="127.0.0.1", port=port)  # fmt: skip
        driver = ModbusDriver(bus)
        reference = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        try:
            assert driver.link is not None  # Modbus TCP: the agent's own client
            assert driver.client is None
            values = await driver.poll(meter, ALL)
            plan = driver._poll_plan(meter, ALL)
            await reference.connect()
            replies = {}
            for rq in plan.requests:
                rr = await reference.read_input_registers(rq.start, count=rq.count, device_id=2)
                replies[rq] = rr.registers
                assert list(await driver._read(rq)) == rr.registers
        finally:
            reference.close()
            await driver.close()
    expected = [(d.quantity, d.value) for d in decode_blocks(plan.map, replies)
                if isinstance(d, Reading)]  # fmt: skip
    assert [(v.quantity, v.value) for v in values] == expected
    assert len(expected) >= 10


async def test_an_exception_response_is_a_refusal_naming_its_code() -> None:
    async with run_simulators(SPEC) as fleet:
        link = TcpLink("127.0.0.1", fleet.endpoints[0].port, 1.0)
        try:
            with pytest.raises(MeterReplyError, match=r"exception 2 \(illegal data address\)"):
                await link.read(ReadRequest(1, Function.INPUT, 9000, 10))
            with pytest.raises(MeterReplyError, match="exception 11"):  # no such unit here
                await link.read(ReadRequest(7, Function.INPUT, 0, 2))
            assert len(await link.read(FIRST_BLOCK)) == 24  # the connection is still good
        finally:
            link.close()


async def test_a_silent_unit_times_out_and_the_next_read_goes_through() -> None:
    async with run_simulators(SPEC) as fleet:
        link = TcpLink("127.0.0.1", fleet.endpoints[0].port, 0.3)
        try:
            fleet.set_fault("1", Fault(FaultKind.SILENT))
            with pytest.raises(MeterTimeout, match=r"no reply within 0\.3 s"):
                await link.read(FIRST_BLOCK)
            fleet.set_fault("1", None)
            assert len(await link.read(FIRST_BLOCK)) == 24
        finally:
            link.close()


async def test_noise_instead_of_a_reply_is_a_malformed_reply_and_the_link_reconnects() -> None:
    async with run_simulators(SPEC) as fleet:
        link = TcpLink("127.0.0.1", fleet.endpoints[0].port, 1.0)
        try:
            fleet.set_fault("1", Fault(FaultKind.GARBAGE_ONLY, garbage_bytes=30))
            with pytest.raises(MeterReplyError, match="malformed reply"):
                await link.read(FIRST_BLOCK)
            assert not link.connected
            fleet.set_fault("1", None)
            assert len(await link.read(FIRST_BLOCK)) == 24
        finally:
            link.close()


async def test_a_reply_shorter_than_its_header_says_times_out_and_is_never_taken_later() -> None:
    # The simulator's bad-checksum on Modbus TCP announces one byte more than it sends: the
    # frame never completes. The link must not wait on it forever, nor read the next reply
    # as its missing byte.
    async with run_simulators(SPEC) as fleet:
        link = TcpLink("127.0.0.1", fleet.endpoints[0].port, 0.3)
        try:
            fleet.set_fault("1", Fault(FaultKind.BAD_CHECKSUM))
            with pytest.raises(MeterTimeout):
                await link.read(FIRST_BLOCK)
            assert not link.connected  # a torn frame: the stream was dropped
            fleet.set_fault("1", None)
            assert len(await link.read(FIRST_BLOCK)) == 24
            assert len(await link.read(FIRST_BLOCK)) == 24
        finally:
            link.close()


async def test_nothing_listening_is_a_timeout() -> None:
    link = TcpLink("127.0.0.1", 1, 0.3)
    with pytest.raises(MeterTimeout, match="cannot connect"):
        await link.read(FIRST_BLOCK)


async def test_a_pipelined_poll_decodes_the_same_values_as_one_request_at_a_time() -> None:
    meter = Meter(id="sdm", unit=1, map="sdm630")
    async with run_simulators(SPEC, clock=frozen) as fleet:
        port = fleet.endpoints[0].port
        drivers = [
            ModbusDriver(Bus(name="mb", transport=Transport.TCP, protocol=BusProtocol.MODBUS_TCP,
                             host="127.0.0.1", port=port, pipeline=pipeline))
            for pipeline in (False, True)
        ]  # fmt: skip
        try:
            one_by_one, pipelined = [await d.poll(meter, ALL) for d in drivers]
            assert len(drivers[1]._poll_plan(meter, ALL).requests) > 1
        finally:
            for d in drivers:
                await d.close()
    assert [(v.quantity, v.value) for v in pipelined] == [(v.quantity, v.value) for v in one_by_one]


async def test_pipelined_reads_answer_each_request_and_time_out_as_a_whole() -> None:
    async with run_simulators(SPEC) as fleet:
        link = TcpLink("127.0.0.1", fleet.endpoints[0].port, 0.3)
        try:
            bad = ReadRequest(1, Function.INPUT, 9000, 10)
            good, refused, again = await link.read_many([FIRST_BLOCK, bad, FIRST_BLOCK])
            assert isinstance(good, bytes)
            assert len(good) == 24
            assert isinstance(refused, MeterReplyError)
            assert "illegal data address" in str(refused)
            assert isinstance(again, bytes)
            fleet.set_fault("1", Fault(FaultKind.SILENT))
            with pytest.raises(MeterTimeout):
                await link.read_many([FIRST_BLOCK, FIRST_BLOCK])
            fleet.set_fault("1", None)
            assert [len(b) for b in await link.read_many([FIRST_BLOCK, FIRST_BLOCK])] == [24, 24]
        finally:
            link.close()
