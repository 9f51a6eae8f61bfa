"""Raw registers to contract values, exactly, and back again for the simulator.

Integer registers are converted without any float: raw × scale × 10^sf × unit factor is worked
out as a Fraction and rounded once, half to even, to the contract's integer unit. A float32 is
first read as the shortest decimal that round-trips to the same float32 (what the meter meant;
see :func:`protocols.modbus.registers.float32_shortest_decimal`) and then goes the same exact
way, so 230.1 V becomes 230100 mV rather than 230100.006… rounded.

A value that the meter marks as absent (a SunSpec "not implemented" pattern, NaN, an
unimplemented scale factor) is a :class:`NoValue` with its reason, never a number: a 0x8000
read as -32768 A would be a plausible-looking lie in the database.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

import msgspec

from protocols.contract.messages import RelayState
from protocols.contract.quantities import Quantity
from protocols.modbus.maps import Register, RegisterMap
from protocols.modbus.planner import ReadRequest
from protocols.modbus.registers import (
    DataType,
    Function,
    float32_shortest_decimal,
    float32_to_pattern,
    int_to_pattern,
    pattern_to_float32,
    pattern_to_int,
    pattern_to_words,
    words_to_pattern,
)
from protocols.modbus.relay_control import RelayStateRegister

SUNSSF_NOT_IMPLEMENTED = 0x8000
SUNSSF_RANGE = range(-10, 11)  # SunSpec: scale factors are -10..10
_WIRE_LIMIT = 1 << 63  # a contract value must fit a signed 64-bit integer (MessagePack, SQL)


class NoValueReason(enum.StrEnum):
    NOT_READ = "not_read"  # its registers (or its scale factor's) are missing from the replies
    NOT_IMPLEMENTED = "not_implemented"  # the meter's "not implemented" sentinel
    NAN = "nan"
    INFINITE = "infinite"
    SCALE_FACTOR_NOT_IMPLEMENTED = "scale_factor_not_implemented"
    SCALE_FACTOR_INVALID = "scale_factor_invalid"  # outside SunSpec's -10..10
    OUT_OF_RANGE = "out_of_range"  # does not fit a signed 64-bit contract value
    UNKNOWN_STATE = "unknown_state"  # a relay state value the map does not list


class Reading(msgspec.Struct, frozen=True):
    """A decoded value in the contract's integer unit for ``quantity``."""

    quantity: Quantity
    value: int


class NoValue(msgspec.Struct, frozen=True):
    """The meter answered, but there is no value to report for ``quantity``, and why."""

    quantity: Quantity
    reason: NoValueReason
    detail: str = ""


Decoded = Reading | NoValue
RegisterTable = dict[Function, dict[int, int]]  # table -> address -> word (or bit)


def decode_blocks(
    register_map: RegisterMap, replies: Mapping[ReadRequest, Sequence[int]]
) -> list[Decoded]:
    """Decode every register of the map from the replies to its read requests.

    ``replies`` maps each request that was answered to its register words (bits as 0/1 for
    coils). A request that failed is simply left out; its registers come back as NOT_READ. The
    result follows the map's order, then the relay state if the map has one.
    """
    table: RegisterTable = {}
    for request, words in replies.items():
        cells = table.setdefault(request.function, {})
        for offset, word in enumerate(list(words)[: request.count]):
            cells[request.start + offset] = int(word)
    results: list[Decoded] = [decode_register(reg, table) for reg in register_map.registers]
    if register_map.relay is not None:
        results.append(decode_relay_state(register_map.relay.state, table))
    return results


def _words(table: RegisterTable, function: Function, address: int, count: int) -> list[int] | None:
    cells = table.get(function, {})
    words = [cells.get(a) for a in range(address, address + count)]
    return None if any(w is None for w in words) else [w for w in words if w is not None]


def decode_register(reg: Register, table: RegisterTable) -> Decoded:
    """One register's value from a table of words (see :func:`decode_blocks`)."""
    words = _words(table, reg.function, reg.address, reg.count)
    if words is None:
        return NoValue(reg.quantity, NoValueReason.NOT_READ, f"registers at {reg.address}")
    scale_factor = 0
    if reg.scale_factor_address is not None:
        sf_words = _words(table, reg.function, reg.scale_factor_address, 1)
        if sf_words is None:
            detail = f"scale factor at {reg.scale_factor_address}"
            return NoValue(reg.quantity, NoValueReason.NOT_READ, detail)
        sf_pattern = sf_words[0]
        if not 0 <= sf_pattern <= 0xFFFF:
            raise ValueError(f"register value {sf_pattern!r} is not a 16-bit unsigned word")
        if sf_pattern == SUNSSF_NOT_IMPLEMENTED:
            return NoValue(reg.quantity, NoValueReason.SCALE_FACTOR_NOT_IMPLEMENTED)
        scale_factor = pattern_to_int(sf_pattern, DataType.INT16)
        if scale_factor not in SUNSSF_RANGE:
            detail = f"scale factor {scale_factor} at {reg.scale_factor_address}"
            return NoValue(reg.quantity, NoValueReason.SCALE_FACTOR_INVALID, detail)
    return decode_value(reg, words, scale_factor)


def decode_value(reg: Register, words: Sequence[int], scale_factor: int = 0) -> Decoded:
    """Convert one register's words, given its scale factor, to the contract unit."""
    pattern = words_to_pattern(words, word_order=reg.word_order, byte_order=reg.byte_order)
    if pattern in reg.not_implemented:
        return NoValue(reg.quantity, NoValueReason.NOT_IMPLEMENTED, f"raw 0x{pattern:X}")
    numerator, denominator = 0, 1
    if reg.data_type is DataType.FLOAT32:
        as_float = pattern_to_float32(pattern)
        if math.isnan(as_float):
            return NoValue(reg.quantity, NoValueReason.NAN, f"raw 0x{pattern:08X}")
        if math.isinf(as_float):
            return NoValue(reg.quantity, NoValueReason.INFINITE, f"raw 0x{pattern:08X}")
        scaled = float32_scaled(pattern, *value_multiplier(reg, scale_factor))
        if scaled is not None:
            return _in_range(reg, scaled)
        numerator, denominator = Decimal(float32_shortest_decimal(pattern)).as_integer_ratio()
    else:
        numerator = pattern_to_int(pattern, reg.data_type)
    # number × scale × 10^sf × factor, in integers: the exact value a Fraction would hold,
    # without building Fractions for every value polled; rounded once.
    numerator *= reg.scale.numerator * reg.factor.numerator
    denominator *= reg.scale.denominator * reg.factor.denominator
    if scale_factor >= 0:
        numerator *= 10**scale_factor
    else:
        denominator *= 10**-scale_factor
    return _in_range(reg, _round_half_even(numerator, denominator))


def _in_range(reg: Register, value: int) -> Decoded:
    if not -_WIRE_LIMIT <= value < _WIRE_LIMIT:
        return NoValue(reg.quantity, NoValueReason.OUT_OF_RANGE, f"{value} {reg.contract_unit}")
    return Reading(reg.quantity, value)


def value_multiplier(reg: Register, scale_factor: int = 0) -> tuple[int, int]:
    """scale × factor × 10^scale_factor as (numerator, denominator > 0): what a register's
    number is multiplied by to give the contract value (before rounding)."""
    numerator = reg.scale.numerator * reg.factor.numerator
    denominator = reg.scale.denominator * reg.factor.denominator
    if scale_factor >= 0:
        return numerator * 10**scale_factor, denominator
    return numerator, denominator * 10**-scale_factor


def float32_scaled(pattern: int, numerator: int, denominator: int) -> int | None:
    """The contract value of a finite float32 pattern times numerator / denominator, rounded
    half to even, without the shortest-decimal search when that search cannot change the
    result; None when it might (then :func:`decode_value` does the search).

    The shortest decimal lies within the float32's rounding interval, v ± ½ ulp. If both ends
    of that interval, scaled, round to the same integer, every number between them does
    (rounding is monotonic), the shortest decimal included. Exact, in integers: v = ±2M·h
    with h = ½ ulp a power of two, so the ends are ±(2M ± 1)·h. At a meter's resolution the
    interval is far narrower than one unit of the contract (230.1 V: ±0.008 mV), so the search
    is only needed for a value within a hair of a rounding tie.
    """
    exponent = (pattern >> 23) & 0xFF
    mantissa = pattern & 0x7FFFFF
    if exponent:
        mantissa |= 0x800000
        shift = exponent - 151  # h = 2**shift
    else:
        shift = -150  # subnormal: ulp 2**-149
    if pattern >> 31:
        numerator = -numerator
    if shift >= 0:
        numerator <<= shift
    else:
        denominator <<= -shift
    twice = 2 * mantissa
    low = _round_half_even((twice - 1) * numerator, denominator)
    if _round_half_even((twice + 1) * numerator, denominator) != low:
        return None
    return low


def _round_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded half to even, exactly."""
    quotient, remainder = divmod(numerator, denominator)  # floor: 0 <= remainder < denominator
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def decode_relay_state(state: RelayStateRegister, table: RegisterTable) -> Decoded:
    words = _words(table, state.function, state.address, state.count)
    if words is None:
        return NoValue(Quantity.RELAY_STATE, NoValueReason.NOT_READ, f"relay at {state.address}")
    if state.function.is_bits:
        raw = 1 if words[0] else 0
    else:
        raw = words_to_pattern(words, word_order=state.word_order, byte_order=state.byte_order)
    relay_state = state.values.get(raw)
    if relay_state is None:
        return NoValue(Quantity.RELAY_STATE, NoValueReason.UNKNOWN_STATE, f"raw {raw}")
    return Reading(Quantity.RELAY_STATE, int(relay_state))


# ---- encoding: what the simulator puts in its registers -------------------------------------


def encode_value(reg: Register, value: int, *, scale_factor: int = 0) -> list[int]:
    """The words a meter holds so that :func:`decode_value` yields ``value`` (or the nearest
    value the register can represent: rounded half to even to the register's resolution).

    Raises ValueError if the value does not fit the register's type or would collide with its
    "not implemented" sentinel; that is a simulator bug, not a meter fault.
    """
    source = Fraction(value) / (reg.scale * Fraction(10) ** scale_factor * reg.factor)
    if reg.data_type is DataType.FLOAT32:
        pattern = float32_to_pattern(float(source))
    else:
        pattern = int_to_pattern(round(source), reg.data_type)
    if pattern in reg.not_implemented:
        raise ValueError(f"{reg.label()}: {value} encodes to the not-implemented pattern")
    return pattern_to_words(
        pattern, reg.count, word_order=reg.word_order, byte_order=reg.byte_order
    )


def encode_not_implemented(reg: Register) -> list[int]:
    """Words meaning "not implemented" for this register (NaN for a float32)."""
    if reg.data_type is DataType.FLOAT32:
        pattern = 0x7FC00000
    elif reg.not_implemented:
        pattern = min(reg.not_implemented)
    else:
        raise ValueError(f"{reg.label()}: the map declares no not-implemented value")
    return pattern_to_words(
        pattern, reg.count, word_order=reg.word_order, byte_order=reg.byte_order
    )


def register_image(
    register_map: RegisterMap,
    values: Mapping[Quantity, int],
    *,
    scale_factors: Mapping[int, int] | None = None,
    relay_state: RelayState | None = None,
) -> RegisterTable:
    """The register table of a meter holding ``values`` (contract units), for a simulator.

    ``scale_factors`` gives the value of each SunSpec scale-factor register by its absolute
    address (missing ones are 0). Quantities absent from ``values`` are left out of the table.
    """
    sfs = dict(scale_factors or {})
    table: RegisterTable = {}
    for reg in register_map.registers:
        if reg.scale_factor_address is not None:
            sf = sfs.get(reg.scale_factor_address, 0)
            cells = table.setdefault(reg.function, {})
            cells[reg.scale_factor_address] = int_to_pattern(sf, DataType.INT16)
        else:
            sf = 0
        if reg.quantity in values:
            words = encode_value(reg, values[reg.quantity], scale_factor=sf)
            cells = table.setdefault(reg.function, {})
            for offset, word in enumerate(words):
                cells[reg.address + offset] = word
    if relay_state is not None and register_map.relay is not None:
        state = register_map.relay.state
        raw = state.raw_for(relay_state)
        cells = table.setdefault(state.function, {})
        if state.function.is_bits:
            cells[state.address] = raw
        else:
            words = pattern_to_words(
                raw, state.count, word_order=state.word_order, byte_order=state.byte_order
            )
            for offset, word in enumerate(words):
                cells[state.address + offset] = word
    return table
