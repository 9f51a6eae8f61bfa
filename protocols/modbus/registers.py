"""Raw register words to numbers and back: data types, word and byte order, sentinels.

Modbus itself only knows 16-bit registers ("words"). Everything wider is a convention of the
device: which word comes first (``word_order``) and, rarely, whether the two bytes inside a
word are swapped (``byte_order``). The four combinations have common names:

=========== ========== ============ =====================================
word_order  byte_order  for 0xAABBCCDD  also called
=========== ========== ============ =====================================
big         big        AA BB CC DD  ABCD, "big-endian" (Modbus default)
little      big        CC DD AA BB  CDAB, "word-swapped", low word first
big         little     BB AA DD CC  BADC, "byte-swapped"
little      little     DD CC BB AA  DCBA, "little-endian"
=========== ========== ============ =====================================

This module is the only place that knows those layouts; it works on unsigned register values
(0..65535, as pymodbus hands them over) and never on bytes from the wire.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Sequence


class Function(enum.StrEnum):
    """The Modbus table a value lives in. Register maps name the table, not the code."""

    HOLDING = "holding"  # read FC3, write FC6 / FC16
    INPUT = "input"  # read FC4, read-only
    COIL = "coil"  # read FC1, write FC5 / FC15
    DISCRETE_INPUT = "discrete_input"  # read FC2, read-only

    @property
    def read_code(self) -> int:
        return _READ_CODES[self]

    @property
    def is_bits(self) -> bool:
        """Coils and discrete inputs carry one bit per address, not a 16-bit word."""
        return self in (Function.COIL, Function.DISCRETE_INPUT)


_READ_CODES = {
    Function.COIL: 1,
    Function.DISCRETE_INPUT: 2,
    Function.HOLDING: 3,
    Function.INPUT: 4,
}


class DataType(enum.StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    INT64 = "int64"
    UINT64 = "uint64"

    @property
    def words(self) -> int:
        """How many 16-bit registers one value occupies."""
        return _WORDS[self]

    @property
    def signed(self) -> bool:
        return self in (DataType.INT16, DataType.INT32, DataType.INT64)

    @property
    def bits(self) -> int:
        return self.words * 16

    @property
    def sunspec_sentinel(self) -> int | None:
        """SunSpec's "not implemented" raw pattern for this type (floats use NaN instead).

        SunSpec also defines accumulators (acc32 / acc64), which are unsigned but mark "not
        implemented" with 0; a map declares those as ``uint32`` with ``not_implemented = [0]``.
        """
        if self is DataType.FLOAT32:
            return None
        if self.signed:
            return 1 << (self.bits - 1)  # 0x8000, 0x80000000, 0x8000000000000000
        return (1 << self.bits) - 1  # 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


_WORDS = {
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.FLOAT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
}


class Order(enum.StrEnum):
    BIG = "big"  # most significant first
    LITTLE = "little"  # least significant first


def words_to_pattern(
    words: Sequence[int], *, word_order: Order = Order.BIG, byte_order: Order = Order.BIG
) -> int:
    """Combine registers into the raw unsigned bit pattern they encode, most significant first.

    Raises ValueError if a word is outside 0..65535: that is a caller bug, not a meter fault,
    because pymodbus never hands over anything else.
    """
    for word in words:
        if not 0 <= word <= 0xFFFF:
            raise ValueError(f"register value {word!r} is not a 16-bit unsigned word")
    ordered = list(words) if word_order is Order.BIG else list(reversed(words))
    pattern = 0
    for word in ordered:
        if byte_order is Order.LITTLE:
            word = ((word & 0xFF) << 8) | (word >> 8)
        pattern = (pattern << 16) | word
    return pattern


def pattern_to_words(
    pattern: int, count: int, *, word_order: Order = Order.BIG, byte_order: Order = Order.BIG
) -> list[int]:
    """The inverse of :func:`words_to_pattern`: ``count`` registers as the device stores them."""
    if not 0 <= pattern < (1 << (16 * count)):
        raise ValueError(f"pattern 0x{pattern:X} does not fit in {count} registers")
    words = [(pattern >> (16 * (count - 1 - i))) & 0xFFFF for i in range(count)]
    if byte_order is Order.LITTLE:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    if word_order is Order.LITTLE:
        words.reverse()
    return words


def pattern_to_int(pattern: int, data_type: DataType) -> int:
    """Interpret a raw pattern as the integer type (two's complement when signed)."""
    if data_type is DataType.FLOAT32:
        raise ValueError("float32 is not an integer type")
    if data_type.signed and pattern >= 1 << (data_type.bits - 1):
        return pattern - (1 << data_type.bits)
    return pattern


def int_to_pattern(value: int, data_type: DataType) -> int:
    """Raw pattern of an integer; raises ValueError if it does not fit the type."""
    if data_type is DataType.FLOAT32:
        raise ValueError("float32 is not an integer type")
    bits = data_type.bits
    low, high = (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if data_type.signed else (0, (1 << bits) - 1)
    )
    if not low <= value <= high:
        raise ValueError(f"{value} does not fit in {data_type.value} ({low}..{high})")
    return value & ((1 << bits) - 1)


def pattern_to_float32(pattern: int) -> float:
    value: float = struct.unpack(">f", pattern.to_bytes(4, "big"))[0]
    return value


def float32_to_pattern(value: float) -> int:
    """Nearest float32 to ``value`` (round half to even, IEEE 754); overflow raises."""
    try:
        packed = struct.pack(">f", value)
    except OverflowError:
        raise ValueError(f"{value} overflows float32") from None
    return int.from_bytes(packed, "big")


def float32_shortest_decimal(pattern: int) -> str:
    """The shortest decimal string that reads back as the same float32.

    A meter that stores 230.1 V as float32 actually stores 230.100006103515625. Reading the
    shortest round-tripping decimal ("230.1") recovers the number the meter's firmware meant
    and shows on its display, so the later exact arithmetic does not carry binary noise into
    the rounding. At most 9 significant digits are ever needed for a float32.
    """
    value = pattern_to_float32(pattern)
    if not math.isfinite(value):
        raise ValueError("NaN and infinity have no decimal form")
    # Binary search over 1..9 digits (4 tries instead of up to 9: this runs for every float32
    # value polled). Valid because round-tripping is monotonic in the digits: rounding to d+1
    # digits lands at least as close as rounding to d (a d-digit number is a (d+1)-digit one),
    # and the test suite checks it against the linear search at every power of two, where the
    # float32 rounding interval is lopsided.
    low, high = 1, 9  # 9 digits always round-trip a float32
    while low < high:
        digits = (low + high) // 2
        if _round_trips(f"{value:.{digits}g}", pattern):
            high = digits
        else:
            low = digits + 1
    return f"{value:.{low}g}"


def _round_trips(text: str, pattern: int) -> bool:
    try:
        return float32_to_pattern(float(text)) == pattern
    except ValueError:  # rounded up past the largest float32: not this one
        return False
