"""The Data type of DL/T 698.45: A-XDR encoding of typed values, both ways.

Every value on the wire is a tag byte (its :class:`DataType`) and the value. Integers are big
endian (unlike DL/T 645), lengths of strings, bit strings, arrays and structures are A-XDR
lengths (one byte below 128, else ``80H | n`` and ``n`` length bytes). A :class:`Data` holds the
tag and a Python value:

==================================  =============================================
null                                ``None``
array, structure                    ``tuple[Data, ...]``
bool                                ``bool``
bit-string                          :class:`BitString` (bit 0 is the first bit sent)
integer types, enum, OI, OAD, OMD   ``int``
octet-string, MAC, RN, TSA          ``bytes`` (TSA: its content, SA byte first)
visible-string                      ``str`` (Latin-1, so every byte round-trips)
UTF8-string                         ``str``
float32, float64                    ``float``
date_time_s, date, time, date_time  :class:`DateTimeS`, :class:`Date`, :class:`Time`,
                                    :class:`DateTime` (raw fields; FFH = unspecified)
ROAD                                :class:`Road`
TI                                  :class:`Ti`
Scaler_Unit                         :class:`ScalerUnit`
CSD, RCSD                           ``int`` (an OAD) or :class:`Road`; a tuple of them
==================================  =============================================

Build values with the helpers (``unsigned(5)``, ``array([...])``) or ``Data(DataType.X, v)``.
Decoding is bounded: a length is never trusted beyond the bytes present and nesting stops at
:data:`MAX_DEPTH`, so a hostile length byte cannot allocate or recurse its way to a crash.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from typing import Union

import msgspec

from protocols.dlt698.errors import DecodeError, LocalProtocolError

MAX_DEPTH = 16


class DataType(enum.IntEnum):
    NULL = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOL = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5  # int32
    DOUBLE_LONG_UNSIGNED = 6  # uint32
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    INTEGER = 15  # int8
    LONG = 16  # int16
    UNSIGNED = 17  # uint8
    LONG_UNSIGNED = 18  # uint16
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27
    DATE_TIME_S = 28
    OI = 80
    OAD = 81
    ROAD = 82
    OMD = 83
    TI = 84
    TSA = 85
    MAC = 86
    RN = 87
    SCALER_UNIT = 89
    CSD = 91
    RCSD = 96


class BitString(msgspec.Struct, frozen=True, gc=False):
    """``length`` bits; ``value`` holds them as an integer whose most significant of the
    ``length`` bits is bit 0 of the standard (the first bit sent, as in ASN.1)."""

    length: int
    value: int

    def bit(self, n: int) -> bool:
        if not 0 <= n < self.length:
            raise LocalProtocolError(f"bit {n} outside a {self.length}-bit string")
        return bool(self.value >> (self.length - 1 - n) & 1)

    @classmethod
    def from_bits(cls, length: int, bits: Iterable[int]) -> BitString:
        """The bit string of ``length`` bits with the given bit numbers set."""
        value = 0
        for n in bits:
            if not 0 <= n < length:
                raise LocalProtocolError(f"bit {n} outside a {length}-bit string")
            value |= 1 << (length - 1 - n)
        return cls(length, value)


class DateTimeS(msgspec.Struct, frozen=True, gc=False):
    """date_time_s: year (2 bytes), month, day, hour, minute, second — the meter's local time."""

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0


class Date(msgspec.Struct, frozen=True, gc=False):
    year: int
    month: int
    day: int
    weekday: int = 0xFF  # 0 = Sunday, FFH = not given


class Time(msgspec.Struct, frozen=True, gc=False):
    hour: int
    minute: int
    second: int


class DateTime(msgspec.Struct, frozen=True, gc=False):
    year: int
    month: int
    day: int
    weekday: int
    hour: int
    minute: int
    second: int
    milliseconds: int


class Road(msgspec.Struct, frozen=True, gc=False):
    """Record object attribute descriptor: an OAD and the OADs of its associated columns."""

    oad: int
    columns: tuple[int, ...]


class Ti(msgspec.Struct, frozen=True, gc=False):
    """Time interval: unit (0 s, 1 min, 2 h, 3 day, 4 month, 5 year) and how many."""

    unit: int
    interval: int


class ScalerUnit(msgspec.Struct, frozen=True, gc=False):
    scaler: int  # value × 10^scaler
    unit: int  # the standard's unit enumeration (33 kWh, 38 V, 36 A, 27 W ...)


Csd = Union[int, Road]  # noqa: UP007 - a runtime alias msgspec and mypy both read
DataValue = Union[  # noqa: UP007
    None, bool, int, float, str, bytes, tuple["Data", ...], tuple[Csd, ...],
    BitString, DateTimeS, Date, Time, DateTime, Road, Ti, ScalerUnit,
]  # fmt: skip


class Data(msgspec.Struct, frozen=True, gc=False):
    type: DataType
    value: DataValue = None


# --- constructors ----------------------------------------------------------------------------


def null() -> Data:
    return Data(DataType.NULL)


def array(items: Iterable[Data]) -> Data:
    return Data(DataType.ARRAY, tuple(items))


def structure(items: Iterable[Data]) -> Data:
    return Data(DataType.STRUCTURE, tuple(items))


def boolean(value: bool) -> Data:
    return Data(DataType.BOOL, value)


def bit_string(value: BitString) -> Data:
    return Data(DataType.BIT_STRING, value)


def double_long(value: int) -> Data:
    return Data(DataType.DOUBLE_LONG, value)


def double_long_unsigned(value: int) -> Data:
    return Data(DataType.DOUBLE_LONG_UNSIGNED, value)


def octet_string(value: bytes) -> Data:
    return Data(DataType.OCTET_STRING, value)


def visible_string(value: str) -> Data:
    return Data(DataType.VISIBLE_STRING, value)


def integer(value: int) -> Data:
    return Data(DataType.INTEGER, value)


def long(value: int) -> Data:
    return Data(DataType.LONG, value)


def unsigned(value: int) -> Data:
    return Data(DataType.UNSIGNED, value)


def long_unsigned(value: int) -> Data:
    return Data(DataType.LONG_UNSIGNED, value)


def long64(value: int) -> Data:
    return Data(DataType.LONG64, value)


def long64_unsigned(value: int) -> Data:
    return Data(DataType.LONG64_UNSIGNED, value)


def enumerated(value: int) -> Data:
    return Data(DataType.ENUM, value)


def date_time_s(value: DateTimeS) -> Data:
    return Data(DataType.DATE_TIME_S, value)


def oad(value: int) -> Data:
    return Data(DataType.OAD, value)


def road(value: Road) -> Data:
    return Data(DataType.ROAD, value)


def omd(value: int) -> Data:
    return Data(DataType.OMD, value)


def scaler_unit(scaler: int, unit: int) -> Data:
    return Data(DataType.SCALER_UNIT, ScalerUnit(scaler, unit))


class TimeTag(msgspec.Struct, frozen=True, gc=False):
    """时间标签: when the request was sent and how late it may still be carried out."""

    sent: DateTimeS
    allowed_delay: Ti

    def to_wire(self) -> bytes:
        s, t = self.sent, self.allowed_delay
        try:
            return _TIME_TAG.pack(
                s.year, s.month, s.day, s.hour, s.minute, s.second, t.unit, t.interval
            )
        except struct.error as exc:
            raise LocalProtocolError(f"time tag does not fit: {exc}") from None

    @classmethod
    def from_wire(cls, buf: bytes, pos: int) -> tuple[TimeTag, int]:
        if pos + _TIME_TAG.size > len(buf):
            raise DecodeError("a time tag runs past the end of the APDU")
        y, mo, d, h, mi, s, unit, interval = _TIME_TAG.unpack_from(buf, pos)
        return cls(DateTimeS(y, mo, d, h, mi, s), Ti(unit, interval)), pos + _TIME_TAG.size


_TIME_TAG = struct.Struct(">HBBBBBBH")
