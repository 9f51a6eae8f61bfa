"""A simulated Modbus meter's register table, built from the meter model through its map.

The map (:mod:`protocols.modbus`) says where each quantity lives and how it is encoded; the
codec's :func:`~protocols.modbus.encode_value` does the encoding, so what the simulator stores
is exactly what the agent's decoder expects. SunSpec scale factors are fixed per meter from
the largest values it could show, as real SunSpec meters fix theirs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction

from edge_agent.simulators.meter import MeterModel
from protocols.contract.quantities import QUANTITIES, Unit
from protocols.modbus import (
    DataType,
    Function,
    Register,
    RegisterMap,
    RegisterTable,
    encode_not_implemented,
    encode_value,
)
from protocols.modbus.registers import int_to_pattern, pattern_to_words

SUNSPEC_ID = (0x5375, 0x6E53)  # "SunS" at 40000
SUNSPEC_COMMON_LENGTH = 66


def _largest(unit: Unit, peak_w: int) -> int:
    """The largest magnitude a meter of ``peak_w`` could show in ``unit`` (contract units)."""
    return {
        Unit.WH: 4_000_000_000,
        Unit.VARH: 4_000_000_000,
        Unit.MV: 300_000,
        Unit.MA: peak_w * 3 * 1000 // 100 + 1000,  # at 100 V, with margin
        Unit.W: peak_w * 3,
        Unit.VAR: peak_w * 3,
        Unit.VA: peak_w * 3,
        Unit.PERMILLE: 1000,
        Unit.MHZ: 70_000,
    }.get(unit, 1)


def _fits(reg: Register, value: int, scale_factor: int) -> bool:
    try:
        encode_value(reg, value, scale_factor=scale_factor)
        if reg.data_type.signed:
            encode_value(reg, -value, scale_factor=scale_factor)
    except ValueError:
        return False
    return True


def choose_scale_factors(register_map: RegisterMap, peak_w: int) -> dict[int, int]:
    """The finest sunssf per scale-factor register that still fits every value it scales."""
    groups: dict[int, list[Register]] = defaultdict(list)
    for reg in register_map.registers:
        if reg.scale_factor_address is not None:
            groups[reg.scale_factor_address].append(reg)
    chosen = {}
    for address, regs in groups.items():
        for sf in range(-3, 11):
            if all(_fits(r, _largest(QUANTITIES[r.quantity].unit, peak_w), sf) for r in regs):
                chosen[address] = sf
                break
        else:
            chosen[address] = 10
    return chosen


class ModbusImage:
    """Builds the register table of one meter on demand."""

    def __init__(self, register_map: RegisterMap, model: MeterModel) -> None:
        self.map = register_map
        self.model = model
        self.scale_factors = choose_scale_factors(register_map, model.config.peak_w)
        self._spans = self._address_spans()

    def table(self, now_ms: int) -> RegisterTable:
        values = self.model.readings(now_ms)
        table: RegisterTable = {}
        for address, sf in self.scale_factors.items():
            table.setdefault(Function.HOLDING, {})[address] = int_to_pattern(sf, DataType.INT16)
        for reg in self.map.registers:
            sf = (
                self.scale_factors.get(reg.scale_factor_address, 0)
                if reg.scale_factor_address is not None
                else 0
            )
            words = self._encode(reg, values.get(reg.quantity), sf)
            if words is None:
                continue
            cells = table.setdefault(reg.function, {})
            for offset, word in enumerate(words):
                cells[reg.address + offset] = word
        relay = self.map.relay
        if relay is not None:
            state = relay.state
            raw = state.raw_for(self.model.relay)
            cells = table.setdefault(state.function, {})
            if state.function.is_bits:
                cells[state.address] = raw
            else:
                words = pattern_to_words(
                    raw, state.count, word_order=state.word_order, byte_order=state.byte_order
                )
                for offset, word in enumerate(words):
                    cells[state.address + offset] = word
        if "sunspec" in self.map.name.lower():
            self._sunspec_markers(table)
        return table

    @staticmethod
    def _encode(reg: Register, value: int | None, sf: int) -> list[int] | None:
        try:
            if value is None:
                return encode_not_implemented(reg)
            step = reg.scale * Fraction(10) ** sf * reg.factor
            cumulative = QUANTITIES[reg.quantity].cumulative
            if cumulative and reg.data_type is not DataType.FLOAT32 and step >= 1:
                # A register shows the energy counted so far, truncated, never rounded up.
                value = int(math.floor(Fraction(value) / step) * step)
            return encode_value(reg, value, scale_factor=sf)
        except ValueError:  # too large for the register, or no "not implemented" pattern
            try:
                return encode_not_implemented(reg)
            except ValueError:
                return None

    def _sunspec_markers(self, table: RegisterTable) -> None:
        """ "SunS", a common block and the model header, so SunSpec scanners find the model."""
        cells = table.setdefault(Function.HOLDING, {})
        base = self.map.base
        cells[40000], cells[40001] = SUNSPEC_ID
        cells[40002], cells[40003] = 1, SUNSPEC_COMMON_LENGTH
        for address in range(40004, 40004 + SUNSPEC_COMMON_LENGTH):
            cells.setdefault(address, 0)
        last = max(cells)
        cells[base] = 201 if self.model.config.phases == 1 else 203  # single / three phase wye
        cells[base + 1] = last - base - 1
        cells[last + 1], cells[last + 2] = 0xFFFF, 0

    def _address_spans(self) -> dict[Function, tuple[int, int]]:
        spans: dict[Function, tuple[int, int]] = {}
        for function, cells in self.table(self.model.now_ms).items():
            spans[function] = (min(cells), max(cells))
        return spans

    def span(self, function: Function) -> tuple[int, int] | None:
        """The lowest and highest address the meter implements in ``function``'s table."""
        return self._spans.get(function)


__all__ = ["ModbusImage", "choose_scale_factors"]
