"""Register words to numbers and back, with vectors worked out by hand."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.modbus.registers import (
    DataType,
    Order,
    float32_shortest_decimal,
    float32_to_pattern,
    int_to_pattern,
    pattern_to_float32,
    pattern_to_int,
    pattern_to_words,
    words_to_pattern,
)

B, L = Order.BIG, Order.LITTLE

# 0xAABBCCDD in the four layouts a device may use.
LAYOUTS = [
    (B, B, [0xAABB, 0xCCDD]),  # ABCD
    (L, B, [0xCCDD, 0xAABB]),  # CDAB, word-swapped
    (B, L, [0xBBAA, 0xDDCC]),  # BADC, byte-swapped
    (L, L, [0xDDCC, 0xBBAA]),  # DCBA
]


@pytest.mark.parametrize(("word_order", "byte_order", "words"), LAYOUTS)
def test_each_word_and_byte_order_reads_the_same_32_bit_pattern(
    word_order: Order, byte_order: Order, words: list[int]
) -> None:
    assert words_to_pattern(words, word_order=word_order, byte_order=byte_order) == 0xAABBCCDD
    assert pattern_to_words(0xAABBCCDD, 2, word_order=word_order, byte_order=byte_order) == words


def test_a_64_bit_value_low_word_first_reverses_all_four_words() -> None:
    words = [0x4444, 0x3333, 0x2222, 0x1111]
    assert words_to_pattern(words, word_order=L) == 0x1111222233334444


def test_signed_types_read_twos_complement() -> None:
    assert pattern_to_int(0xFB2E, DataType.INT16) == -1234
    assert pattern_to_int(0xFB2E, DataType.UINT16) == 64302
    assert pattern_to_int(0xFFFFFA24, DataType.INT32) == -1500
    assert pattern_to_int(0xFFFFFFFFFFFFFFFE, DataType.INT64) == -2
    assert pattern_to_int(0xFFFFFFFFFFFFFFFE, DataType.UINT64) == 2**64 - 2


def test_float32_230_5_volts_is_0x43668000() -> None:
    assert pattern_to_float32(0x43668000) == 230.5
    assert float32_to_pattern(230.5) == 0x43668000


def test_the_shortest_decimal_recovers_what_the_meter_meant() -> None:
    assert pattern_to_float32(0x4366199A) != 230.1  # the stored binary value is 230.10000610…
    assert float32_shortest_decimal(0x4366199A) == "230.1"
    assert float32_shortest_decimal(0x4640E6AE) == "12345.67"
    assert float32_shortest_decimal(0xBF5EB852) == "-0.87"


def test_a_word_outside_sixteen_bits_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        words_to_pattern([0x10000])


def test_an_integer_that_does_not_fit_its_type_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit in int16"):
        int_to_pattern(40000, DataType.INT16)
    with pytest.raises(ValueError, match="does not fit in uint32"):
        int_to_pattern(-1, DataType.UINT32)


def test_sunspec_sentinels_are_the_documented_patterns() -> None:
    assert DataType.INT16.sunspec_sentinel == 0x8000
    assert DataType.UINT16.sunspec_sentinel == 0xFFFF
    assert DataType.INT32.sunspec_sentinel == 0x80000000
    assert DataType.UINT32.sunspec_sentinel == 0xFFFFFFFF
    assert DataType.INT64.sunspec_sentinel == 0x8000000000000000
    assert DataType.UINT64.sunspec_sentinel == 0xFFFFFFFFFFFFFFFF
    assert DataType.FLOAT32.sunspec_sentinel is None


INTEGER_TYPES = [t for t in DataType if t is not DataType.FLOAT32]


@st.composite
def typed_integers(draw: st.DrawFn) -> tuple[DataType, int]:
    data_type = draw(st.sampled_from(INTEGER_TYPES))
    bits = data_type.bits
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if data_type.signed else (0, 2**bits - 1)
    return data_type, draw(st.integers(low, high))


@given(typed_integers(), st.sampled_from(Order), st.sampled_from(Order))
def test_every_integer_survives_encode_then_decode_in_every_layout(
    typed: tuple[DataType, int], word_order: Order, byte_order: Order
) -> None:
    data_type, value = typed
    words = pattern_to_words(
        int_to_pattern(value, data_type),
        data_type.words,
        word_order=word_order,
        byte_order=byte_order,
    )
    pattern = words_to_pattern(words, word_order=word_order, byte_order=byte_order)
    assert len(words) == data_type.words
    assert pattern_to_int(pattern, data_type) == value


@given(st.floats(width=32, allow_nan=False), st.sampled_from(Order), st.sampled_from(Order))
def test_every_float32_survives_encode_then_decode_bit_for_bit(
    value: float, word_order: Order, byte_order: Order
) -> None:
    words = pattern_to_words(
        float32_to_pattern(value), 2, word_order=word_order, byte_order=byte_order
    )
    decoded = pattern_to_float32(
        words_to_pattern(words, word_order=word_order, byte_order=byte_order)
    )
    assert struct.pack(">f", decoded) == struct.pack(">f", value)


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_the_shortest_decimal_always_reads_back_as_the_same_float32(value: float) -> None:
    pattern = float32_to_pattern(value)
    text = float32_shortest_decimal(pattern)
    assert float32_to_pattern(float(text)) == pattern
    assert len(text.lstrip("-").replace(".", "").split("e")[0].strip("0")) <= 9
    assert math.isfinite(float(text))
