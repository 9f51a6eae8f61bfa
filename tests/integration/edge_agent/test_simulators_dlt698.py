"""Simulated DL/T 698.45 meters answer real requests over TCP: security, time tags, records,
wildcard and broadcast addresses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec
import pytest

from edge_agent.simulators import BusSpec, Fleet, FleetSpec, ManualClock, run_simulators
from protocols.contract import RelayState
from protocols.dlt698 import (
    BROADCAST,
    NEED_DATA,
    ActionResponseNormal,
    Answer,
    Connection,
    Dar,
    DateTimeS,
    Frame,
    GetRecord,
    GetResponseNormal,
    GetResponseRecord,
    RemoteProtocolError,
    Selector1,
    Selector2,
    SetNormal,
    SetResponseNormal,
    Ti,
    TimeTag,
    commands,
    encode_apdu,
    encode_frame,
    keyed_mac,
    single,
    wildcard,
)
from protocols.dlt698 import data as d

START = int((datetime(2025, 3, 3, 11, 0) - datetime(1970, 1, 1)).total_seconds() * 1000)
M1, M2 = "111111111111", "111111111112"
KEY = bytes.fromhex("02000000")  # level 02, password 000000: the simulators' default


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    spec = FleetSpec([BusSpec("dlt698", "tcp", meters=2)], clock_error=False, history_days=3)
    async with run_simulators(spec, ManualClock(START)) as running:
        yield running


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def ask(self, conn: Connection, request: object, *, secure: bool = False) -> Answer:
        self.writer.write(conn.send(request, secure=secure))  # type: ignore[arg-type]
        await self.writer.drain()
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError:
                continue
            if event is not NEED_DATA:
                assert isinstance(event, Answer)
                return event
            conn.receive_data(await asyncio.wait_for(self.reader.read(4096), 3))


@pytest.fixture
async def client(fleet: Fleet) -> AsyncIterator[Client]:
    endpoint = fleet.endpoints[0]
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    yield Client(reader, writer)
    writer.close()


async def test_a_relay_action_in_the_clear_is_refused_and_nothing_moves(
    fleet: Fleet, client: Client
) -> None:
    answer = await client.ask(Connection(single(M1)), commands.trip())
    assert isinstance(answer.response, ActionResponseNormal)
    assert answer.response.dar == Dar.SECURITY_UNMATCHED
    assert fleet.meter(M1).model.relay is RelayState.CONNECTED


async def test_a_secured_trip_opens_the_relay_and_a_permitted_close_arms_it(
    fleet: Fleet, client: Client
) -> None:
    conn = Connection(single(M1), mac=keyed_mac(KEY))
    answer = await client.ask(conn, commands.trip(), secure=True)
    assert answer.secured
    assert isinstance(answer.response, ActionResponseNormal)
    assert answer.response.dar == Dar.SUCCESS
    assert fleet.meter(M1).model.relay is RelayState.DISCONNECTED
    close = commands.close(command=commands.CloseCommand.PERMIT)
    await client.ask(conn, close, secure=True)
    assert fleet.meter(M1).model.relay is RelayState.READY_FOR_RECONNECTION


async def test_a_time_tag_older_than_its_allowed_delay_is_refused(
    fleet: Fleet, client: Client
) -> None:
    conn = Connection(single(M1), mac=keyed_mac(KEY))
    stale = TimeTag(DateTimeS(2025, 3, 3, 18, 0, 0), Ti(0, 300))  # the meter shows 19:00
    request = msgspec.structs.replace(commands.trip(), time_tag=stale)
    answer = await client.ask(conn, request, secure=True)
    assert isinstance(answer.response, ActionResponseNormal)
    assert answer.response.dar == Dar.TIME_TAG_INVALID
    assert fleet.meter(M1).model.relay is RelayState.CONNECTED


async def test_daily_frozen_records_are_selected_by_time_range_and_by_equality(
    fleet: Fleet, client: Client
) -> None:
    conn = Connection(single(M1))
    freezes = list(fleet.meter(M1).model.frozen)
    assert len(freezes) == 3
    newest = freezes[0].at
    at = d.date_time_s(DateTimeS(newest.year, newest.month, newest.day))
    answer = await client.ask(
        conn, GetRecord(0, 0x50040200, Selector1(0x20210200, at), (0x20210200, 0x00100201))
    )
    assert isinstance(answer.response, GetResponseRecord)
    [row] = answer.response.result.rows or ()
    assert row == (at, d.double_long_unsigned(freezes[0].import_wh[0] // 10))
    oldest = freezes[-1].at
    start = d.date_time_s(DateTimeS(oldest.year, oldest.month, oldest.day))
    answer = await client.ask(
        conn, GetRecord(0, 0x50040200, Selector2(0x20210200, start, at, d.null()), (0x20210200,))
    )
    assert isinstance(answer.response, GetResponseRecord)
    assert len(answer.response.result.rows or ()) == 2  # [oldest, newest): two of the three


async def test_the_wildcard_address_reads_the_meters_own_address(fleet: Fleet) -> None:
    spec = FleetSpec([BusSpec("dlt698", "tcp", meters=1)], clock_error=False)
    async with run_simulators(spec, ManualClock(START)) as alone:
        endpoint = alone.endpoints[0]
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
        try:
            answer = await Client(reader, writer).ask(
                Connection(wildcard()), commands.get(0x40010200)
            )
        finally:
            writer.close()
    assert answer.frame.server.address == M1
    assert isinstance(answer.response, GetResponseNormal)
    assert answer.response.result.value == d.octet_string(bytes.fromhex(M1))


async def test_a_broadcast_clock_set_is_carried_out_by_every_meter_without_an_answer(
    fleet: Fleet, client: Client
) -> None:
    wire = encode_frame(
        Frame(BROADCAST, encode_apdu(commands.set_clock(DateTimeS(2025, 3, 3, 19, 30, 0))))
    )
    client.writer.write(wire)
    await client.writer.drain()
    conn = Connection(single(M2))
    answer = await client.ask(conn, commands.get(0x40000200))  # the next answer is M2's read
    assert isinstance(answer.response, GetResponseNormal)
    assert answer.response.result.value == d.date_time_s(DateTimeS(2025, 3, 3, 19, 30, 0))
    assert fleet.servers[0].stats["broadcasts"] == 1
    assert fleet.meter(M1).model.meter_time(START) == datetime(2025, 3, 3, 19, 30)


async def test_a_clock_set_answers_success_and_a_set_elsewhere_is_denied(
    fleet: Fleet, client: Client
) -> None:
    conn = Connection(single(M1))
    ok = await client.ask(conn, commands.set_clock(DateTimeS(2025, 3, 3, 19, 5, 0)))
    assert isinstance(ok.response, SetResponseNormal)
    assert ok.response.dar == Dar.SUCCESS
    denied = await client.ask(conn, SetNormal(0, 0x40010200, d.octet_string(b"\x00")))
    assert isinstance(denied.response, SetResponseNormal)
    assert denied.response.dar == Dar.READ_WRITE_DENIED
