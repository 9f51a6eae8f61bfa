"""Modbus TCP, RTU and RTU-over-TCP, reading what the register map says.

Modbus TCP goes through our own lean client (``modbus_tcp.py``), RTU on a serial line or
through a TCP gateway through pymodbus. Each (meter, poll group) has its block reads planned
once by ``protocols.modbus.plan_spans`` (adjacent registers merged up to the map's limits), so
a poll is a few large reads rather than one request per value — on a 9600 baud RS-485 bus that
is most of the bus time saved. No retries or reconnect loops in the transport: the bus
scheduler owns retry and backoff.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge_agent.config import Bus, BusProtocol, Meter, PollGroup, Transport
from edge_agent.drivers.base import MeterReplyError, MeterTimeout, NotSupported
from edge_agent.drivers.modbus_maps import AgentMap, load
from edge_agent.drivers.modbus_tcp import TcpLink
from protocols.contract import CommandKind, Quantity, RelayState, Value
from protocols.modbus import (
    DataType,
    Function,
    Order,
    Reading,
    ReadRequest,
    Register,
    RegisterMap,
    RegisterTable,
    UnsupportedCommand,
    decode_register,
    decode_relay_state,
    float32_scaled,
    plan_spans,
    value_multiplier,
)
from protocols.modbus.tcp import encode_write_coil, encode_write_registers, unpack_bits
from protocols.relay import IllegalTransition


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_U32 = struct.Struct(">I")
_WIRE_LIMIT = 1 << 63


@dataclass(frozen=True, slots=True)
class _Float32:
    """A big-endian float32 register without a scale factor, carried whole by one request:
    decoded straight from that reply's bytes (``struct.unpack_from``), not via a word table."""

    request: int  # index into the poll's requests
    offset: int  # byte offset in that reply's data
    numerator: int  # value multiplier (protocols.modbus.value_multiplier)
    denominator: int


@dataclass(frozen=True)
class _PollPlan:
    """What one poll of (meter, group) reads and decodes, worked out once."""

    requests: list[ReadRequest]
    map: RegisterMap  # the meter's map cut down to the group's registers
    carried_by: list[int | None]  # per register of ``map`` (then its relay): request index
    fast: list[_Float32 | None]  # per register of ``map``: its direct decoding, if it has one

    @staticmethod
    def make(rmap: RegisterMap, meter: Meter, group: PollGroup) -> _PollPlan:
        wanted = set(group.quantities)
        registers = tuple(r for r in rmap.registers if not wanted or r.quantity in wanted)
        spans: list[tuple[Function, int, int]] = []
        for reg in registers:
            spans.append((reg.function, reg.address, reg.count))
            if reg.scale_factor_address is not None:
                spans.append((reg.function, reg.scale_factor_address, 1))
        relay = rmap.relay
        if relay is not None and (not wanted or Quantity.RELAY_STATE in wanted):
            spans.append((relay.state.function, relay.state.address, relay.state.count))
        else:
            relay = None
        assert meter.unit is not None
        requests = plan_spans(
            spans, unit=meter.unit, max_registers=rmap.max_registers, max_gap=rmap.max_gap
        )
        where = [(r.function, r.address) for r in registers]
        if relay is not None:
            where.append((relay.state.function, relay.state.address))
        carried_by = [_carrier(requests, function, address) for function, address in where]
        fast = [_fast(requests, reg) for reg in registers]
        return _PollPlan(
            requests, replace(rmap, registers=registers, relay=relay), carried_by, fast
        )


def _fast(requests: list[ReadRequest], reg: Register) -> _Float32 | None:
    if (
        reg.data_type is not DataType.FLOAT32
        or reg.word_order is not Order.BIG
        or reg.byte_order is not Order.BIG
        or reg.scale_factor_address is not None
        or reg.function.is_bits
    ):
        return None
    for i, rq in enumerate(requests):
        if rq.function is reg.function and rq.start <= reg.address and reg.address + 2 <= rq.stop:
            return _Float32(i, 2 * (reg.address - rq.start), *value_multiplier(reg))
    return None


def _carrier(requests: list[ReadRequest], function: Function, address: int) -> int | None:
    for i, rq in enumerate(requests):
        if rq.function is function and rq.start <= address < rq.stop:
            return i
    return None


class ModbusDriver:
    """Modbus TCP through :class:`~edge_agent.drivers.modbus_tcp.TcpLink` (lean, ours); RTU on
    a serial line or through a TCP gateway through pymodbus."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        timeout = bus.timeout_ms / 1000
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self.link: TcpLink | None = None
        if bus.transport is Transport.SERIAL:
            assert bus.device is not None
            self.client = AsyncModbusSerialClient(
                bus.device,
                framer=FramerType.RTU,
                baudrate=bus.baud,
                bytesize=bus.byte_size,
                parity=bus.parity.value,
                stopbits=bus.stop_bits,
                timeout=timeout,
                retries=0,
                reconnect_delay=0,
            )
        elif bus.protocol is BusProtocol.MODBUS_TCP:
            assert bus.host is not None
            assert bus.port is not None
            self.link = TcpLink(bus.host, bus.port, timeout)
        else:  # RTU frames through a transparent TCP gateway
            assert bus.host is not None
            assert bus.port is not None
            self.client = AsyncModbusTcpClient(
                bus.host,
                port=bus.port,
                framer=FramerType.RTU,
                timeout=timeout,
                retries=0,
                reconnect_delay=0,
            )
        self._plans: dict[tuple[str, str], _PollPlan] = {}

    async def close(self) -> None:
        if self.link is not None:
            self.link.close()
        if self.client is not None:
            self.client.close()

    async def _connect(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        client = self.client
        assert client is not None
        if not client.connected and not await client.connect():
            raise MeterTimeout(f"cannot connect to the Modbus bus {self.bus.name}")
        return client

    def _map(self, meter: Meter) -> AgentMap:
        assert meter.map is not None
        return load(meter.map)

    def _plan(self, meter: Meter, group: PollGroup) -> list[ReadRequest]:
        return self._poll_plan(meter, group).requests

    def _poll_plan(self, meter: Meter, group: PollGroup) -> _PollPlan:
        key = (meter.id, group.name)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _PollPlan.make(self._map(meter).map, meter, group)
        return plan

    async def _read_block(self, request: ReadRequest) -> bytes:
        """One read's data as on the wire: 2 bytes a register, big-endian; bits packed LSB
        first."""
        if self.link is not None:
            return await self.link.read(request)
        c, start, count, unit = await self._connect(), request.start, request.count, request.unit
        try:
            if request.function is Function.HOLDING:
                rr = await c.read_holding_registers(start, count=count, device_id=unit)
            elif request.function is Function.INPUT:
                rr = await c.read_input_registers(start, count=count, device_id=unit)
            elif request.function is Function.COIL:
                rr = await c.read_coils(start, count=count, device_id=unit)
            else:
                rr = await c.read_discrete_inputs(start, count=count, device_id=unit)
        except ModbusException as exc:
            raise MeterTimeout(f"unit {unit}: {exc}") from None
        if rr.isError():
            raise MeterReplyError(
                f"unit {unit} refused {request.function.value} {start}+{count}: {rr}"
            )
        if request.function.is_bits:
            packed = bytearray((count + 7) // 8)
            for i, bit in enumerate(rr.bits[:count]):
                if bit:
                    packed[i >> 3] |= 1 << (i & 7)
            return bytes(packed)
        if len(rr.registers) < count:
            raise MeterReplyError(f"unit {unit} returned {len(rr.registers)} of {count} registers")
        return struct.pack(f">{count}H", *rr.registers[:count])

    async def _read(self, request: ReadRequest) -> Sequence[int]:
        return _words(request, await self._read_block(request))

    async def _fetch(
        self, plan: _PollPlan
    ) -> tuple[list[bytes | None], list[int | None], list[str]]:
        """Every read of a poll: per request its data (None: refused) and when it arrived,
        and the refusals."""
        blocks: list[bytes | None] = []
        stamps: list[int | None] = []  # per request: when its reply arrived
        refused: list[str] = []
        if self.bus.pipeline and self.link is not None and len(plan.requests) > 1:
            # all at once; the replies arrive together, stamped with the last one's arrival
            results = await self.link.read_many(plan.requests)
            arrived = now_ms()
            for result in results:
                if isinstance(result, MeterReplyError):
                    refused.append(str(result))
                    blocks.append(None)
                    stamps.append(None)
                else:
                    blocks.append(result)
                    stamps.append(arrived)
            return blocks, stamps, refused
        for request in plan.requests:
            try:
                blocks.append(await self._read_block(request))
            except MeterReplyError as exc:
                refused.append(str(exc))
                blocks.append(None)
                stamps.append(None)
                continue
            stamps.append(now_ms())
        return blocks, stamps, refused

    async def poll(self, meter: Meter, group: PollGroup) -> list[Value]:
        plan = self._poll_plan(meter, group)
        blocks, stamps, refused = await self._fetch(plan)
        if len(refused) == len(plan.requests):
            raise MeterReplyError("; ".join(refused))
        last = next(ts for ts in reversed(stamps) if ts is not None)
        values: list[Value] = []
        table: RegisterTable | None = None
        # Only the group's own registers are decoded (plan.map), each stamped with the arrival
        # of the reply that carried it. A big-endian float32 comes straight from its reply's
        # bytes; every other register, and a float32 the fast path declines (NaN, a sentinel,
        # a hair from a rounding tie), through protocols.modbus's word table.
        registers = plan.map.registers
        for i, at in enumerate(plan.carried_by):
            ts = last if at is None else (stamps[at] or last)
            fast = plan.fast[i] if i < len(registers) else None
            if fast is not None and (block := blocks[fast.request]) is not None:
                pattern = _U32.unpack_from(block, fast.offset)[0]
                if (pattern >> 23) & 0xFF != 0xFF and pattern not in registers[i].not_implemented:
                    scaled = float32_scaled(pattern, fast.numerator, fast.denominator)
                    if scaled is not None and -_WIRE_LIMIT <= scaled < _WIRE_LIMIT:
                        values.append(Value(meter.id, ts, registers[i].quantity, scaled))
                        continue
            if table is None:
                table = _table(plan.requests, blocks)
            if i < len(registers):
                decoded = decode_register(registers[i], table)
            else:
                assert plan.map.relay is not None
                decoded = decode_relay_state(plan.map.relay.state, table)
            if isinstance(decoded, Reading):
                values.append(Value(meter.id, ts, decoded.quantity, decoded.value))
        return values

    async def relay_state(self, meter: Meter) -> RelayState:
        relay = self._map(meter).map.relay
        if relay is None:
            raise NotSupported(f"map {meter.map} has no relay")
        assert meter.unit is not None
        state = relay.state
        request = ReadRequest(meter.unit, state.function, state.address, state.count)
        words = await self._read(request)
        table = {state.function: {state.address + i: w for i, w in enumerate(words)}}
        decoded = decode_relay_state(state, table)
        if not isinstance(decoded, Reading):
            raise MeterReplyError(f"relay state unreadable: {decoded.reason} {decoded.detail}")
        return RelayState(decoded.value)

    async def relay(self, meter: Meter, kind: CommandKind, valid_s: int) -> RelayState:
        relay = self._map(meter).map.relay
        if relay is None:
            raise NotSupported(f"map {meter.map} has no relay")
        current = await self.relay_state(meter)
        try:
            action = relay.action(kind, current)
        except (IllegalTransition, UnsupportedCommand) as exc:
            raise MeterReplyError(str(exc)) from None
        write, unit = action.write, meter.unit or 0
        if self.link is not None:
            tid = self.link.next_transaction()
            if write.function is Function.COIL:
                frame = encode_write_coil(tid, unit, write.address, bool(write.values[0]))
            else:
                frame = encode_write_registers(tid, unit, write.address, list(write.values))
            await self.link.write(frame, tid, unit)
            return action.expected
        client = await self._connect()
        try:
            if write.function is Function.COIL:
                rr = await client.write_coil(write.address, bool(write.values[0]), device_id=unit)
            elif len(write.values) == 1:
                rr = await client.write_register(write.address, write.values[0], device_id=unit)
            else:
                rr = await client.write_registers(write.address, list(write.values), device_id=unit)
        except ModbusException as exc:
            raise MeterTimeout(f"unit {unit}: {exc}") from None
        if rr.isError():
            raise MeterReplyError(f"unit {unit} refused the relay write: {rr}")
        return action.expected

    async def time_sync(self, meter: Meter) -> None:
        raise NotSupported("Modbus meters have no standard clock setting")

    async def clock_drift_ms(self, meter: Meter) -> int | None:
        return None

    async def last_power_down(self, meter: Meter) -> tuple[int, int | None] | None:
        return None  # not read from this protocol (yet): bus silence stands alone

    async def backfill(self, meter: Meter, since_ms: int) -> list[Value]:
        return []  # register maps describe no frozen values


def _words(request: ReadRequest, block: bytes) -> Sequence[int]:
    if request.function.is_bits:
        return unpack_bits(block, request.count)
    return struct.unpack(f">{request.count}H", block)


def _table(requests: list[ReadRequest], blocks: list[bytes | None]) -> RegisterTable:
    """The replies as protocols.modbus's word table (a refused request is left out: its
    registers decode as NOT_READ)."""
    table: RegisterTable = {}
    for request, block in zip(requests, blocks, strict=True):
        if block is not None:
            cells = table.setdefault(request.function, {})
            for offset, word in enumerate(_words(request, block)):
                cells[request.start + offset] = word
    return table
