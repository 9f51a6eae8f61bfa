"""Modbus TCP, RTU and RTU-over-TCP through pymodbus, reading what the register map says.

Each (meter, poll group) has its block reads planned once by ``protocols.modbus.plan_spans``
(adjacent registers merged up to the map's limits), so a poll is a few large reads rather than
one request per value — on a 9600 baud RS-485 bus that is most of the bus time saved.
pymodbus's own retries and reconnects are off: the bus scheduler owns retry and backoff.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge_agent.config import Bus, BusProtocol, Meter, PollGroup, Transport
from edge_agent.drivers.base import MeterReplyError, MeterTimeout, NotSupported
from edge_agent.drivers.modbus_maps import AgentMap, load
from protocols.contract import CommandKind, Quantity, RelayState, Value
from protocols.modbus import (
    Function,
    Reading,
    ReadRequest,
    RegisterMap,
    UnsupportedCommand,
    decode_blocks,
    decode_relay_state,
    plan_spans,
)
from protocols.relay import IllegalTransition


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class _PollPlan:
    """What one poll of (meter, group) reads and decodes, worked out once."""

    requests: list[ReadRequest]
    map: RegisterMap  # the meter's map cut down to the group's registers
    carried_by: list[int | None]  # per register of ``map`` (then its relay): request index

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
        return _PollPlan(requests, replace(rmap, registers=registers, relay=relay), carried_by)


def _carrier(requests: list[ReadRequest], function: Function, address: int) -> int | None:
    for i, rq in enumerate(requests):
        if rq.function is function and rq.start <= address < rq.stop:
            return i
    return None


class ModbusDriver:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        timeout = bus.timeout_ms / 1000
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient
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
        else:
            assert bus.host is not None
            assert bus.port is not None
            tcp = bus.protocol is BusProtocol.MODBUS_TCP
            framer = FramerType.SOCKET if tcp else FramerType.RTU
            self.client = AsyncModbusTcpClient(
                bus.host,
                port=bus.port,
                framer=framer,
                timeout=timeout,
                retries=0,
                reconnect_delay=0,
            )
        self._plans: dict[tuple[str, str], _PollPlan] = {}

    async def close(self) -> None:
        self.client.close()

    async def _connect(self) -> None:
        if not self.client.connected and not await self.client.connect():
            raise MeterTimeout(f"cannot connect to the Modbus bus {self.bus.name}")

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

    async def _read(self, request: ReadRequest) -> Sequence[int]:
        await self._connect()
        c, start, count, unit = self.client, request.start, request.count, request.unit
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
            return [int(b) for b in rr.bits[:count]]
        if len(rr.registers) < count:
            raise MeterReplyError(f"unit {unit} returned {len(rr.registers)} of {count} registers")
        return list(rr.registers)

    async def poll(self, meter: Meter, group: PollGroup) -> list[Value]:
        plan = self._poll_plan(meter, group)
        replies: dict[ReadRequest, Sequence[int]] = {}
        stamps: list[int | None] = []  # per request: when its reply arrived
        refused: list[str] = []
        for request in plan.requests:
            try:
                replies[request] = await self._read(request)
            except MeterReplyError as exc:
                refused.append(str(exc))
                stamps.append(None)
                continue
            stamps.append(now_ms())
        if not replies:
            raise MeterReplyError("; ".join(refused))
        last = next(ts for ts in reversed(stamps) if ts is not None)
        values: list[Value] = []
        # Only the group's own registers are decoded (plan.map), each stamped with the arrival
        # of the reply that carried it.
        for decoded, at in zip(decode_blocks(plan.map, replies), plan.carried_by, strict=True):
            if isinstance(decoded, Reading):
                ts = stamps[at] if at is not None else None
                stamp = last if ts is None else ts
                values.append(Value(meter.id, stamp, decoded.quantity, decoded.value))
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
        try:
            if write.function is Function.COIL:
                rr = await self.client.write_coil(
                    write.address, bool(write.values[0]), device_id=unit
                )
            elif len(write.values) == 1:
                rr = await self.client.write_register(
                    write.address, write.values[0], device_id=unit
                )
            else:
                rr = await self.client.write_registers(
                    write.address, list(write.values), device_id=unit
                )
        except ModbusException as exc:
            raise MeterTimeout(f"unit {unit}: {exc}") from None
        if rr.isError():
            raise MeterReplyError(f"unit {unit} refused the relay write: {rr}")
        return action.expected

    async def time_sync(self, meter: Meter) -> None:
        raise NotSupported("Modbus meters have no standard clock setting")

    async def clock_drift_ms(self, meter: Meter) -> int | None:
        return None

    async def backfill(self, meter: Meter, since_ms: int) -> list[Value]:
        return []  # register maps describe no frozen values
