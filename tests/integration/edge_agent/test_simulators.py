"""Simulated DL/T 645 meters answer real requests over TCP, their own pty and a socat pair."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from edge_agent.simulators import BusSpec, Fleet, FleetSpec, ManualClock, run_simulators
from edge_agent.simulators.dlt645_values import fit
from protocols.contract.quantities import Quantity as Q
from protocols.dlt645 import (
    TABLE,
    ErrorFlag,
    MeterRefused,
    MeterTime,
    Password,
    RelayAction,
    broadcast_time,
    encode_frame,
    encode_item,
    parse_ack,
    parse_address_reply,
    parse_read_reply,
    read_address_request,
    read_request,
    relay_control,
    write_request,
)
from protocols.dlt645.frame import Function
from protocols.dlt645.items import RelayEvent, StatusWord
from tests.support.serial import SerialPair, serial_pair  # noqa: F401 - fixture
from tests.support.sim_clients import Dlt645Client, dlt645_client, open_serial

START = int((datetime(2025, 3, 3, 11, 0) - datetime(1970, 1, 1)).total_seconds() * 1000)
LOCAL_START = datetime(2025, 3, 3, 19, 0)  # START in Beijing
M1, M2, M3 = "111111111111", "111111111112", "111111111113"
PASSWORD = Password(2, "000000")
OPERATOR = "1A2B3C4D"
LATER = MeterTime(2025, 3, 3, 19, 30)  # validity of relay commands


def spec(meters: int = 3, transport: str = "tcp", **bus: object) -> FleetSpec:
    return FleetSpec([BusSpec("dlt645", transport, meters=meters, **bus)], clock_error=False)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def fleet(clock: ManualClock) -> AsyncIterator[Fleet]:
    async with run_simulators(spec(), clock) as running:
        yield running


@pytest.fixture
async def client(fleet: Fleet) -> AsyncIterator[Dlt645Client]:
    connection = await dlt645_client(fleet.endpoints[0])
    yield connection
    await connection.close()


async def read(client: Dlt645Client, address: str, di: int):  # type: ignore[no-untyped-def]
    return parse_read_reply(await client.ask(read_request(address, di)), di).item()


async def test_a_meter_behind_a_tcp_gateway_answers_every_di_in_the_table(
    fleet: Fleet, client: Dlt645Client, clock: ManualClock
) -> None:
    clock.advance(minutes=90)
    for di in TABLE:
        item = await read(client, M2, di)
        assert item.di == di
    energy = await read(client, M2, 0x00010000)
    register = fleet.meter(M2).model.registers(clock())[Q.ENERGY_IMPORT]
    assert energy.readings[0].value == register // 10 * 10
    assert client.errors == {}


async def test_meters_answer_over_a_socat_serial_pair(
    clock: ManualClock,
    serial_pair: SerialPair,  # noqa: F811
) -> None:
    async with run_simulators(spec(2, "serial", path=serial_pair.meter), clock) as fleet:
        client = Dlt645Client(*await open_serial(serial_pair.agent))
        for address in (M1, M2):
            reply = await client.ask(read_request(address, 0x02010100))
            assert reply.address == address
            voltage = parse_read_reply(reply).item().readings[0].value
            expected = fleet.meter(address).model.readings(clock())[Q.VOLTAGE_A]
            assert voltage == fit(TABLE[0x02010100].fields[0], expected)
        await client.close()


async def test_meters_answer_on_their_own_pty(clock: ManualClock) -> None:
    async with run_simulators(spec(1, "pty"), clock) as fleet:
        assert fleet.endpoints[0].path.startswith("/dev/pts/")
        client = await dlt645_client(fleet.endpoints[0])
        item = await read(client, M1, 0x0001FF00)
        assert len(item.readings) == 5
        await client.close()


async def test_replies_start_with_the_fe_wake_up_preamble(client: Dlt645Client) -> None:
    await client.ask(read_request(M1, 0x00010000))
    assert bytes(client.received[:5]) == b"\xfe\xfe\xfe\xfe\x68"


async def test_a_frame_for_another_address_gets_no_reply(
    fleet: Fleet, client: Dlt645Client
) -> None:
    await client.send(encode_frame(read_request("222222222222", 0x00010000)))
    reply = await client.ask(read_request(M3, 0x00010000))
    assert reply.address == M3  # the first answer on the line is the second request's
    assert fleet.servers[0].stats["ignored"] == 1


async def test_an_unknown_di_is_answered_with_no_data(client: Dlt645Client) -> None:
    with pytest.raises(MeterRefused) as refused:
        parse_read_reply(await client.ask(read_request(M1, 0x0F0F0F0F)))
    assert refused.value.flags == ErrorFlag.NO_DATA


async def test_read_address_is_answered_by_a_meter_alone_on_the_bus(clock: ManualClock) -> None:
    async with run_simulators(spec(1), clock) as fleet:
        client = await dlt645_client(fleet.endpoints[0])
        assert parse_address_reply(await client.ask(read_address_request())) == M1
        await client.close()


async def test_read_address_with_two_meters_on_the_bus_collides(client: Dlt645Client) -> None:
    await client.send(encode_frame(read_address_request()))
    garbled = await client.read_at_least(4 + 18)  # both replies, on top of each other
    client.decoder.feed(garbled)
    reply = await client.ask(read_request(M1, 0x00010000))
    assert reply.address == M1
    assert reply.function == Function.READ_DATA
    assert sum(client.errors.values()) >= 1


async def test_broadcast_time_sets_every_meter_clock_and_gets_no_reply(
    fleet: Fleet, client: Dlt645Client, clock: ManualClock
) -> None:
    shown = LOCAL_START + timedelta(minutes=4, seconds=7)
    await client.send(encode_frame(broadcast_time(MeterTime(*shown.timetuple()[:6]))))
    item = await read(client, M3, 0x04000102)
    assert item.values["at"] == MeterTime(0, 0, 0, 19, 4, 7)
    assert all(
        m.model.meter_time(clock()) == shown for s in fleet.servers for m in s.meters.values()
    )


async def test_a_broadcast_correction_of_more_than_five_minutes_is_ignored(
    fleet: Fleet, client: Dlt645Client, clock: ManualClock
) -> None:
    shown = LOCAL_START + timedelta(minutes=6)
    await client.send(encode_frame(broadcast_time(MeterTime(*shown.timetuple()[:6]))))
    await read(client, M1, 0x00010000)  # the bus has handled the broadcast by now
    assert fleet.meter(M1).model.meter_time(clock()) == LOCAL_START
    assert fleet.servers[0].stats["broadcast_time_refused"] == 3


async def test_a_trip_with_the_right_password_opens_the_relay_and_is_recorded(
    fleet: Fleet, client: Dlt645Client
) -> None:
    reply = await client.ask(relay_control(M2, RelayAction.TRIP, PASSWORD, OPERATOR, LATER))
    parse_ack(reply, Function.RELAY_CONTROL)
    status = (await read(client, M2, 0x04000503)).record
    assert isinstance(status, StatusWord)
    assert status.relay_open
    assert status.relay_command_trip
    record = (await read(client, M2, 0x1D000101)).record
    assert isinstance(record, RelayEvent)
    assert (record.operator, record.at) == (OPERATOR, MeterTime(2025, 3, 3, 19, 0, 0))
    assert (await read(client, M2, 0x02030000)).readings[0].value == 0  # no load
    assert (await read(client, M1, 0x04000503)).record == StatusWord(3, 0)  # others untouched


async def test_a_relay_command_with_a_wrong_password_is_refused_and_changes_nothing(
    fleet: Fleet, client: Dlt645Client
) -> None:
    wrong = Password(2, "999999")
    reply = await client.ask(relay_control(M1, RelayAction.TRIP, wrong, OPERATOR, LATER))
    with pytest.raises(MeterRefused) as refused:
        parse_ack(reply, Function.RELAY_CONTROL)
    assert refused.value.names == {"UNAUTHORISED"}
    assert (await read(client, M1, 0x04000503)).record == StatusWord(3, 0)


async def test_a_relay_command_past_its_validity_is_refused(client: Dlt645Client) -> None:
    expired = MeterTime(2025, 3, 3, 18, 59)
    reply = await client.ask(relay_control(M1, RelayAction.TRIP, PASSWORD, OPERATOR, expired))
    with pytest.raises(MeterRefused):
        parse_ack(reply, Function.RELAY_CONTROL)
    assert (await read(client, M1, 0x04000503)).record == StatusWord(3, 0)


async def test_close_permitted_arms_the_relay_and_the_customers_button_closes_it(
    fleet: Fleet, client: Dlt645Client, clock: ManualClock
) -> None:
    for action in (RelayAction.TRIP, RelayAction.CLOSE_PERMITTED):
        await client.ask(relay_control(M1, action, PASSWORD, OPERATOR, LATER))
    status = (await read(client, M1, 0x04000503)).record
    assert isinstance(status, StatusWord)
    assert status.relay_open
    assert not status.relay_command_trip
    clock.advance(minutes=2)
    assert fleet.meter(M1).model.press_button(clock())
    assert (await read(client, M1, 0x04000503)).record == StatusWord(3, 0)
    assert (await read(client, M1, 0x1E000001)).values["count"] == 1


async def test_keep_power_refuses_a_trip_until_lifted(client: Dlt645Client) -> None:
    await client.ask(relay_control(M1, RelayAction.KEEP_POWER, PASSWORD, OPERATOR, LATER))
    with pytest.raises(MeterRefused):
        parse_ack(
            await client.ask(relay_control(M1, RelayAction.TRIP, PASSWORD, OPERATOR, LATER)),
            Function.RELAY_CONTROL,
        )
    await client.ask(relay_control(M1, RelayAction.KEEP_POWER_CLEAR, PASSWORD, OPERATOR, LATER))
    reply = await client.ask(relay_control(M1, RelayAction.TRIP, PASSWORD, OPERATOR, LATER))
    parse_ack(reply, Function.RELAY_CONTROL)


async def test_writing_the_meter_time_sets_its_clock(
    fleet: Fleet, client: Dlt645Client, clock: ManualClock
) -> None:
    data = encode_item(0x04000102, {"at": MeterTime(0, 0, 0, 7, 30, 0)})
    reply = await client.ask(write_request(M1, 0x04000102, data, PASSWORD, OPERATOR))
    parse_ack(reply, Function.WRITE_DATA)
    assert fleet.meter(M1).model.meter_time(clock()) == datetime(2025, 3, 3, 7, 30)
    refused = await client.ask(write_request(M1, 0x04000102, data, Password(2, "111111"), OPERATOR))
    assert refused.is_abnormal
