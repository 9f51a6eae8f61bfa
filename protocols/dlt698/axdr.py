"""A-XDR encoding and decoding of :class:`~protocols.dlt698.data.Data`, both ways.

Integers are big endian; strings, bit strings, arrays and structures carry an A-XDR length (one
byte below 128, else ``80H | n`` and ``n`` length bytes). Decoding never trusts a length beyond
the bytes present and stops nesting at :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from protocols.dlt698.data import (
    MAX_DEPTH,
    BitString,
    Csd,
    Data,
    DataType,
    DataValue,
    Date,
    DateTime,
    DateTimeS,
    Road,
    ScalerUnit,
    Ti,
    Time,
)
from protocols.dlt698.errors import DecodeError, LocalProtocolError

# --- lengths ---------------------------------------------------------------------------------


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if len(raw) > 4:
        raise LocalProtocolError(f"length {n} needs more than 4 length bytes")
    return bytes((0x80 | len(raw),)) + raw


def decode_length(buf: bytes, pos: int) -> tuple[int, int]:
    """(length, position after it); the caller checks the length against what follows."""
    try:
        first = buf[pos]
    except IndexError:
        raise DecodeError("a length is missing at the end of the data") from None
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if not 1 <= size <= 4 or pos + 1 + size > len(buf):
        raise DecodeError(f"bad A-XDR length prefix {first:02X}H")
    return int.from_bytes(buf[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


# --- fixed-size types ------------------------------------------------------------------------

# tag -> (struct format, signed bounds) for the plain numbers
_NUMBERS: dict[int, struct.Struct] = {
    DataType.DOUBLE_LONG: struct.Struct(">i"),
    DataType.DOUBLE_LONG_UNSIGNED: struct.Struct(">I"),
    DataType.INTEGER: struct.Struct(">b"),
    DataType.LONG: struct.Struct(">h"),
    DataType.UNSIGNED: struct.Struct(">B"),
    DataType.LONG_UNSIGNED: struct.Struct(">H"),
    DataType.LONG64: struct.Struct(">q"),
    DataType.LONG64_UNSIGNED: struct.Struct(">Q"),
    DataType.ENUM: struct.Struct(">B"),
    DataType.OI: struct.Struct(">H"),
    DataType.OAD: struct.Struct(">I"),
    DataType.OMD: struct.Struct(">I"),
}
_FLOATS: dict[int, struct.Struct] = {
    DataType.FLOAT32: struct.Struct(">f"),
    DataType.FLOAT64: struct.Struct(">d"),
}
_DATE_TIME_S = struct.Struct(">HBBBBB")
_DATE = struct.Struct(">HBBB")
_TIME = struct.Struct(">BBB")
_DATE_TIME = struct.Struct(">HBBBBBBH")
_TI = struct.Struct(">BH")
_SCALER_UNIT = struct.Struct(">bB")
_OAD = struct.Struct(">I")
_BYTE_STRINGS = (DataType.OCTET_STRING, DataType.MAC, DataType.RN, DataType.TSA)
_WRITTEN = {DataType.ROAD, DataType.CSD, DataType.RCSD}


# --- encoding --------------------------------------------------------------------------------


def encode_data(value: Data) -> bytes:
    """A-XDR bytes of ``value``, tag first. Raises LocalProtocolError for a value that does not
    fit its type."""
    out = bytearray()
    _encode(value, out, 0)
    return bytes(out)


def _encode(value: Data, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise LocalProtocolError(f"data nested deeper than {MAX_DEPTH}")
    tag, v = value.type, value.value
    out.append(tag)
    encode = _ENCODERS.get(tag)
    if encode is None:
        raise LocalProtocolError(f"data type {tag} is not supported")
    try:
        encode(v, out, depth)
    except (struct.error, TypeError, AttributeError, OverflowError, AssertionError) as exc:
        raise LocalProtocolError(f"{DataType(tag).name} cannot hold {v!r}: {exc}") from None


# One small encoder per type: (value, output, nesting depth). A value of the wrong Python type
# raises TypeError or AssertionError, which _encode turns into a LocalProtocolError.
_Encoder = Callable[[object, bytearray, int], None]


def _encode_number(number: struct.Struct) -> _Encoder:
    def encode(v: object, out: bytearray, depth: int) -> None:
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError("an integer is required")
        out += number.pack(v)

    return encode


def _encode_float(number: struct.Struct) -> _Encoder:
    def encode(v: object, out: bytearray, depth: int) -> None:
        assert isinstance(v, float)
        out += number.pack(v)

    return encode


def _encode_text(encoding: str) -> _Encoder:
    def encode(v: object, out: bytearray, depth: int) -> None:
        assert isinstance(v, str)
        raw = v.encode(encoding)
        out += encode_length(len(raw)) + raw

    return encode


def _encode_written_as(tag: int) -> _Encoder:
    def encode(v: object, out: bytearray, depth: int) -> None:
        out += encode_written(tag, v)

    return encode


def _encode_null(v: object, out: bytearray, depth: int) -> None:
    if v is not None:
        raise TypeError("null holds None")


def _encode_items(v: object, out: bytearray, depth: int) -> None:
    assert isinstance(v, tuple)
    out += encode_length(len(v))
    for item in v:
        if not isinstance(item, Data):
            raise TypeError("array and structure items are Data")
        _encode(item, out, depth + 1)


def _encode_bool(v: object, out: bytearray, depth: int) -> None:
    if type(v) is not bool:
        raise TypeError("bool holds True or False")
    out.append(1 if v else 0)


def _encode_bit_string(v: object, out: bytearray, depth: int) -> None:
    assert isinstance(v, BitString)
    size = (v.length + 7) // 8
    if v.length < 0 or v.value < 0 or v.value >> v.length:
        raise TypeError(f"value does not fit {v.length} bits")
    out += encode_length(v.length) + (v.value << (size * 8 - v.length)).to_bytes(size, "big")


def _encode_octets(v: object, out: bytearray, depth: int) -> None:
    assert isinstance(v, bytes)
    out += encode_length(len(v)) + v


def _encode_date_time_s(v: object, out: bytearray, depth: int) -> None:
    assert isinstance(v, DateTimeS)
    out += _DATE_TIME_S.pack(v.year, v.month, v.day, v.hour, v.minute, v.second)


def _encode_date(v: object, out: bytearray, depth: int) -> None:
    assert isinstance(v, Date)
    out += _DATE.pack(v.year, v.month, v.day, v.weekday)


def _encode_time(v: object, out: bytearray, depth: int) -> None:
    assert isinstance(v, Time)
    out += _TIME.pack(v.hour, v.minute, v.second)


def _encode_date_time(v: object, out: bytearray, depth: int) -> None:
    assert isinstance(v, DateTime)
    out += _DATE_TIME.pack(
        v.year, v.month, v.day, v.weekday, v.hour, v.minute, v.second, v.milliseconds
    )


def _encode_ti(v: object, out: bytearray, depth: int) -> None:
    assert isinstance(v, Ti)
    out += _TI.pack(v.unit, v.interval)


def _encode_scaler_unit(v: object, out: bytearray, depth: int) -> None:
    assert isinstance(v, ScalerUnit)
    out += _SCALER_UNIT.pack(v.scaler, v.unit)


_ENCODERS: dict[int, _Encoder] = {
    **{tag: _encode_number(number) for tag, number in _NUMBERS.items()},
    **{tag: _encode_float(number) for tag, number in _FLOATS.items()},
    **{tag: _encode_octets for tag in _BYTE_STRINGS},
    **{tag: _encode_written_as(tag) for tag in _WRITTEN},
    DataType.NULL: _encode_null,
    DataType.ARRAY: _encode_items,
    DataType.STRUCTURE: _encode_items,
    DataType.BOOL: _encode_bool,
    DataType.BIT_STRING: _encode_bit_string,
    DataType.VISIBLE_STRING: _encode_text("latin-1"),
    DataType.UTF8_STRING: _encode_text("utf-8"),
    DataType.DATE_TIME_S: _encode_date_time_s,
    DataType.DATE: _encode_date,
    DataType.TIME: _encode_time,
    DataType.DATE_TIME: _encode_date_time,
    DataType.TI: _encode_ti,
    DataType.SCALER_UNIT: _encode_scaler_unit,
}


def encode_road(v: Road) -> bytes:
    return _OAD.pack(v.oad) + encode_length(len(v.columns)) + b"".join(map(_OAD.pack, v.columns))


def encode_csd(v: Csd) -> bytes:
    if isinstance(v, Road):
        return b"\x01" + encode_road(v)
    return b"\x00" + _OAD.pack(v)


def encode_rcsd(columns: tuple[Csd, ...]) -> bytes:
    return encode_length(len(columns)) + b"".join(encode_csd(c) for c in columns)


def encode_written(tag: int, v: object) -> bytes:
    """ROAD, CSD and RCSD without their tag, as APDUs also write them."""
    if tag == DataType.ROAD:
        assert isinstance(v, Road)
        return encode_road(v)
    if tag == DataType.CSD:
        assert isinstance(v, int | Road)
        return encode_csd(v)
    assert isinstance(v, tuple)
    return encode_rcsd(v)


# --- decoding --------------------------------------------------------------------------------


def decode_data(raw: bytes) -> Data:
    """The one Data value ``raw`` holds; DecodeError if it is malformed or bytes are left."""
    value, end = decode_data_at(raw, 0)
    if end != len(raw):
        raise DecodeError(f"{len(raw) - end} bytes after the data value")
    return value


def decode_data_at(buf: bytes, pos: int, depth: int = 0) -> tuple[Data, int]:
    """Decode one Data at ``pos``; (value, position after it)."""
    if depth > MAX_DEPTH:
        raise DecodeError(f"data nested deeper than {MAX_DEPTH}")
    try:
        tag = buf[pos]
    except IndexError:
        raise DecodeError("a data value is missing at the end") from None
    entry = _DECODERS.get(tag)
    if entry is None:
        raise DecodeError(f"unknown data type tag {tag}")
    dtype, decode = entry
    try:
        return decode(dtype, buf, pos + 1, depth)
    except (struct.error, IndexError):
        raise DecodeError(f"{dtype.name} runs past the end of the data") from None


def _take(buf: bytes, pos: int, n: int, dtype: DataType) -> bytes:
    if pos + n > len(buf):
        raise DecodeError(f"{dtype.name} of {n} bytes runs past the end of the data")
    return buf[pos : pos + n]


# One small decoder per type: (its type, buffer, position after the tag, nesting depth) ->
# (value, position after it). A read past the end raises struct.error or IndexError, which
# decode_data_at turns into a DecodeError.
_Decoder = Callable[[DataType, bytes, int, int], tuple[Data, int]]


def _decode_number(number: struct.Struct) -> _Decoder:
    unpack, size = number.unpack_from, number.size

    def decode(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
        return Data(dtype, unpack(buf, pos)[0]), pos + size

    return decode


def _decode_fields(layout: struct.Struct, build: Callable[..., DataValue]) -> _Decoder:
    """The fixed-size records (dates, times, TI, Scaler_Unit): a struct layout and its class."""
    unpack, size = layout.unpack_from, layout.size

    def decode(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
        return Data(dtype, build(*unpack(buf, pos))), pos + size

    return decode


def _decode_null(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    return Data(dtype), pos


def _decode_items(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    count, pos = decode_length(buf, pos)
    if count > len(buf) - pos:  # every item takes at least its tag byte
        raise DecodeError(f"{dtype.name} of {count} items in {len(buf) - pos} bytes")
    items = []
    for _ in range(count):
        item, pos = decode_data_at(buf, pos, depth + 1)
        items.append(item)
    return Data(dtype, tuple(items)), pos


def _decode_bool(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    return Data(dtype, buf[pos] != 0), pos + 1


def _decode_bit_string(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    bits, pos = decode_length(buf, pos)
    size = (bits + 7) // 8
    raw = _take(buf, pos, size, dtype)
    value = int.from_bytes(raw, "big") >> (size * 8 - bits)
    return Data(dtype, BitString(bits, value)), pos + size


def _string(dtype: DataType, buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = decode_length(buf, pos)
    return _take(buf, pos, n, dtype), pos + n


def _decode_octets(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    raw, pos = _string(dtype, buf, pos)
    return Data(dtype, raw), pos


def _decode_visible(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    raw, pos = _string(dtype, buf, pos)
    return Data(dtype, raw.decode("latin-1")), pos


def _decode_utf8(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    raw, pos = _string(dtype, buf, pos)
    try:
        return Data(dtype, raw.decode("utf-8")), pos
    except UnicodeDecodeError:
        raise DecodeError("UTF8-string is not UTF-8") from None


def _decode_road(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    value, pos = decode_road(buf, pos)
    return Data(dtype, value), pos


def _decode_csd(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    value, pos = decode_csd(buf, pos)
    return Data(dtype, value), pos


def _decode_rcsd(dtype: DataType, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    value, pos = decode_rcsd(buf, pos)
    return Data(dtype, value), pos


_DECODERS_BY_TYPE: dict[DataType, _Decoder] = {
    **{DataType(tag): _decode_number(number) for tag, number in _NUMBERS.items()},
    **{DataType(tag): _decode_number(number) for tag, number in _FLOATS.items()},
    **{tag: _decode_octets for tag in _BYTE_STRINGS},
    DataType.NULL: _decode_null,
    DataType.ARRAY: _decode_items,
    DataType.STRUCTURE: _decode_items,
    DataType.BOOL: _decode_bool,
    DataType.BIT_STRING: _decode_bit_string,
    DataType.VISIBLE_STRING: _decode_visible,
    DataType.UTF8_STRING: _decode_utf8,
    DataType.DATE_TIME_S: _decode_fields(_DATE_TIME_S, DateTimeS),
    DataType.DATE: _decode_fields(_DATE, Date),
    DataType.TIME: _decode_fields(_TIME, Time),
    DataType.DATE_TIME: _decode_fields(_DATE_TIME, DateTime),
    DataType.TI: _decode_fields(_TI, Ti),
    DataType.SCALER_UNIT: _decode_fields(_SCALER_UNIT, ScalerUnit),
    DataType.ROAD: _decode_road,
    DataType.CSD: _decode_csd,
    DataType.RCSD: _decode_rcsd,
}
# keyed by the raw tag byte, each with its DataType so the decoder need not look it up again
_DECODERS: dict[int, tuple[DataType, _Decoder]] = {
    int(dtype): (dtype, decode) for dtype, decode in _DECODERS_BY_TYPE.items()
}


def decode_oad(buf: bytes, pos: int) -> tuple[int, int]:
    if pos + 4 > len(buf):
        raise DecodeError("an OAD runs past the end of the data")
    return _OAD.unpack_from(buf, pos)[0], pos + 4


def decode_road(buf: bytes, pos: int) -> tuple[Road, int]:
    main, pos = decode_oad(buf, pos)
    count, pos = decode_length(buf, pos)
    if count * 4 > len(buf) - pos:
        raise DecodeError(f"ROAD of {count} columns runs past the end of the data")
    columns = tuple(_OAD.unpack_from(buf, pos + 4 * i)[0] for i in range(count))
    return Road(main, columns), pos + 4 * count


def decode_csd(buf: bytes, pos: int) -> tuple[Csd, int]:
    if pos >= len(buf):
        raise DecodeError("a CSD is missing at the end of the data")
    choice = buf[pos]
    if choice == 0:
        return decode_oad(buf, pos + 1)
    if choice == 1:
        return decode_road(buf, pos + 1)
    raise DecodeError(f"CSD choice {choice} is neither OAD (0) nor ROAD (1)")


def decode_rcsd(buf: bytes, pos: int) -> tuple[tuple[Csd, ...], int]:
    count, pos = decode_length(buf, pos)
    if count * 5 > len(buf) - pos:
        raise DecodeError(f"RCSD of {count} columns runs past the end of the data")
    columns = []
    for _ in range(count):
        column, pos = decode_csd(buf, pos)
        columns.append(column)
    return tuple(columns), pos
