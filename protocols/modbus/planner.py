"""The block-read planner: a map's registers as the fewest Modbus read requests.

On a 9600-baud RS-485 bus every request costs a round trip of tens of milliseconds, so reading
a three-phase meter register by register would take seconds. The planner merges what a map
needs into blocks, per Modbus table, under two limits:

* ``max_registers``: at most 125 registers per FC3/FC4 response (the protocol's limit), or
  fewer if the device says so (Eastron: 80);
* ``max_gap``: how many registers nobody asked for may be read to bridge a hole. Some devices
  answer a read across an unmapped hole with an exception, so the default is 0 and each map
  states what its device tolerates.

The plan is a pure function of its inputs and sorted, so the same map always yields the same
requests (reproducible bus traces, stable tests). Merging is greedy left to right over the
needed spans; because whether a run of spans fits in one request only gets harder as the run
grows, the greedy choice is also the fewest requests.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from protocols.modbus.maps import MODBUS_MAX_REGISTERS, RegisterMap
from protocols.modbus.registers import Function

MODBUS_MAX_BITS = 2000  # the most FC1/FC2 may return in one response


class PlanError(ValueError):
    """The planner was asked for something impossible (a caller or map bug)."""


class ReadRequest(msgspec.Struct, frozen=True, order=True):
    """One read: ``count`` registers (or bits) from ``start`` in ``function``'s table.

    Frozen and hashable, so the agent's driver can use it as the key of the replies it hands to
    :func:`protocols.modbus.decode_blocks`. pymodbus call: ``read_input_registers(start,
    count=count, device_id=unit)`` for INPUT, ``read_holding_registers`` for HOLDING, and so on.
    """

    unit: int  # Modbus unit (slave) id, 1..247 on a serial bus
    function: Function
    start: int
    count: int

    @property
    def stop(self) -> int:
        return self.start + self.count

    @property
    def function_code(self) -> int:
        return self.function.read_code


_FUNCTION_ORDER = {f: i for i, f in enumerate(Function)}


def needed_spans(register_map: RegisterMap) -> list[tuple[Function, int, int]]:
    """Every (function, start, count) the map needs read: values, scale factors, relay state."""
    spans: set[tuple[Function, int, int]] = set()
    for reg in register_map.registers:
        spans.add((reg.function, reg.address, reg.count))
        if reg.scale_factor_address is not None:
            spans.add((reg.function, reg.scale_factor_address, 1))
    if register_map.relay is not None:
        state = register_map.relay.state
        spans.add((state.function, state.address, state.count))
    return sorted(spans, key=lambda s: (_FUNCTION_ORDER[s[0]], s[1], s[2]))


def plan_reads(
    register_map: RegisterMap,
    *,
    unit: int = 1,
    max_registers: int | None = None,
    max_gap: int | None = None,
) -> list[ReadRequest]:
    """The read requests for one poll of one meter, sorted by table then address.

    ``max_registers`` and ``max_gap`` default to the map's ``[meter]`` values; a caller may
    only tighten the register limit below 125, never raise it.
    """
    limit = register_map.max_registers if max_registers is None else max_registers
    gap = register_map.max_gap if max_gap is None else max_gap
    if not 1 <= limit <= MODBUS_MAX_REGISTERS:
        raise PlanError(f"max_registers {limit} is outside 1..{MODBUS_MAX_REGISTERS}")
    if gap < 0:
        raise PlanError(f"max_gap {gap} is negative")
    if not 0 <= unit <= 255:
        raise PlanError(f"unit {unit} is outside 0..255")
    return plan_spans(needed_spans(register_map), unit=unit, max_registers=limit, max_gap=gap)


def plan_spans(
    spans: Iterable[tuple[Function, int, int]],
    *,
    unit: int = 1,
    max_registers: int = MODBUS_MAX_REGISTERS,
    max_gap: int = 0,
) -> list[ReadRequest]:
    """Merge arbitrary (function, start, count) spans; the core of :func:`plan_reads`."""
    by_function: dict[Function, list[tuple[int, int]]] = {}
    for function, start, count in spans:
        if count < 1 or start < 0 or start + count > 0x10000:
            raise PlanError(f"span {function.value} {start}+{count} is not a valid address range")
        by_function.setdefault(function, []).append((start, start + count))
    requests: list[ReadRequest] = []
    for function in sorted(by_function, key=_FUNCTION_ORDER.__getitem__):
        limit = min(max_registers, MODBUS_MAX_BITS) if function.is_bits else max_registers
        for start, stop in _merge(_atoms(by_function[function]), limit, max_gap, function):
            requests.append(ReadRequest(unit, function, start, stop - start))
    return requests


def _atoms(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union overlapping spans: an overlap must be read in one request, or a register would be
    read twice (or a value split across two replies)."""
    atoms: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if atoms and start < atoms[-1][1]:
            atoms[-1] = (atoms[-1][0], max(atoms[-1][1], stop))
        else:
            atoms.append((start, stop))
    return atoms


def _merge(
    atoms: list[tuple[int, int]], limit: int, max_gap: int, function: Function
) -> list[tuple[int, int]]:
    blocks: list[tuple[int, int]] = []
    for start, stop in atoms:
        if stop - start > limit:
            raise PlanError(
                f"{function.value} registers {start}..{stop - 1} must be read together "
                f"but exceed the limit of {limit} per request"
            )
        if blocks:
            block_start, block_stop = blocks[-1]
            if start - block_stop <= max_gap and stop - block_start <= limit:
                blocks[-1] = (block_start, stop)
                continue
        blocks.append((start, stop))
    return blocks
