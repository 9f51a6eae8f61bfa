"""The fast paths of value decoding give exactly what the plain definitions give: the shortest
decimal found by binary search is the one a linear search finds, and integer rounding equals
Fraction arithmetic rounded half to even."""

from __future__ import annotations

import dataclasses
import struct
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from protocols.contract.quantities import Quantity
from protocols.modbus import Decoded, NoValue, NoValueReason, Reading, Register, load_map
from protocols.modbus.decode import decode_value
from protocols.modbus.registers import (
    DataType,
    float32_shortest_decimal,
    float32_to_pattern,
    pattern_to_float32,
)

VOLTAGE = load_map("sdm630").register(Quantity.VOLTAGE_A)  # float32, V -> mV (x 1000)


def linear_shortest(pattern: int) -> str:
    """The definition: the fewest significant digits that read back as the same float32."""
    value = pattern_to_float32(pattern)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        try:
            if float32_to_pattern(float(text)) == pattern:
                return text
        except ValueError:
            continue
    raise AssertionError("9 digits always round-trip")


def reference(reg: Register, number: Fraction, scale_factor: int) -> Decoded:
    """The definition: exact arithmetic, rounded once, half to even (Fraction.__round__)."""
    value = round(number * reg.scale * Fraction(10) ** scale_factor * reg.factor)
    if not -(1 << 63) <= value < 1 << 63:
        return NoValue(reg.quantity, NoValueReason.OUT_OF_RANGE, f"{value} {reg.contract_unit}")
    return Reading(reg.quantity, value)


def finite_float32(pattern: int) -> bool:
    return (pattern >> 23) & 0xFF != 0xFF


# Every power of two (where a float32's rounding interval is lopsided), its neighbours, both
# signs, and the largest finite values.
EDGES = [
    (sign << 31) | (exponent << 23) | mantissa
    for sign in (0, 1)
    for exponent in range(255)
    for mantissa in (0, 1, 0x7FFFFF, 0x400000)
]


def test_the_binary_search_finds_the_linear_searchs_decimal_at_every_power_of_two() -> None:
    mismatches = [p for p in EDGES if float32_shortest_decimal(p) != linear_shortest(p)]
    assert mismatches == []


@given(st.integers(0, 0xFFFFFFFF).filter(finite_float32))
def test_the_binary_search_finds_the_linear_searchs_decimal(pattern: int) -> None:
    assert float32_shortest_decimal(pattern) == linear_shortest(pattern)


SCALES = st.sampled_from([Fraction(1), Fraction(1, 10), Fraction(1, 100), Fraction(5, 4),
                          Fraction(1, 3), Fraction(1000), Fraction(1, 10_000)])  # fmt: skip


@given(st.integers(0, 0xFFFFFFFF).filter(finite_float32), SCALES, st.integers(-10, 10))
def test_a_float32_decodes_to_the_exact_fraction_rounded_half_even(
    pattern: int, scale: Fraction, scale_factor: int
) -> None:
    reg = dataclasses.replace(VOLTAGE, scale=scale)
    words = list(struct.unpack(">HH", pattern.to_bytes(4, "big")))
    exact = Fraction(Decimal(linear_shortest(pattern)))
    assert decode_value(reg, words, scale_factor) == reference(reg, exact, scale_factor)


@given(st.integers(-(1 << 31), (1 << 31) - 1), SCALES, st.integers(-10, 10))
def test_an_integer_decodes_to_the_exact_fraction_rounded_half_even(
    raw: int, scale: Fraction, scale_factor: int
) -> None:
    reg = dataclasses.replace(VOLTAGE, data_type=DataType.INT32, scale=scale,
                              not_implemented=frozenset())  # fmt: skip
    words = list(struct.unpack(">HH", (raw & 0xFFFFFFFF).to_bytes(4, "big")))
    assert decode_value(reg, words, scale_factor) == reference(reg, Fraction(raw), scale_factor)


def test_a_float32_a_hair_from_a_tie_rounds_its_shortest_decimal_not_its_binary_value() -> None:
    # float32(0.0005) is 0.000500000023748…: × 1000 that rounds to 1, but the meter meant
    # 0.0005, which is 0.5 mV and rounds half to even to 0.
    reg = dataclasses.replace(VOLTAGE, scale=Fraction(1))
    words = list(struct.unpack(">HH", struct.pack(">f", 0.0005)))
    assert decode_value(reg, words) == Reading(Quantity.VOLTAGE_A, 0)
    words = list(struct.unpack(">HH", struct.pack(">f", 230.1)))
    assert decode_value(reg, words) == Reading(Quantity.VOLTAGE_A, 230_100)
