"""A-XDR encoding and decoding of :class:`~protocols.dlt698.data.Data`, both ways.

Integers are big endian; strings, bit strings, arrays and structures carry an A-XDR length (one
byte below 128, else ``80H | n`` and ``n`` length bytes). Decoding never trusts a length beyond
the bytes present and stops nesting at :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import struct

from protocols.dlt698.data import (
    MAX_DEPTH,
    BitString,
    Csd,
    Data,
    DataType,
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
    try:
        _encode_value(tag, v, out, depth)
    except (struct.error, TypeError, AttributeError, OverflowError, AssertionError) as exc:
        raise LocalProtocolError(f"{DataType(tag).name} cannot hold {v!r}: {exc}") from None


def _encode_value(tag: int, v: object, out: bytearray, depth: int) -> None:
    number = _NUMBERS.get(tag)
    if number is not None:
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError("an integer is required")
        out += number.pack(v)
    elif tag == DataType.NULL:
        if v is not None:
            raise TypeError("null holds None")
    elif tag in (DataType.ARRAY, DataType.STRUCTURE):
        assert isinstance(v, tuple)
        out += encode_length(len(v))
        for item in v:
            if not isinstance(item, Data):
                raise TypeError("array and structure items are Data")
            _encode(item, out, depth + 1)
    elif tag == DataType.BOOL:
        if type(v) is not bool:
            raise TypeError("bool holds True or False")
        out.append(1 if v else 0)
    elif tag == DataType.BIT_STRING:
        assert isinstance(v, BitString)
        size = (v.length + 7) // 8
        if v.length < 0 or v.value < 0 or v.value >> v.length:
            raise TypeError(f"value does not fit {v.length} bits")
        out += encode_length(v.length) + (v.value << (size * 8 - v.length)).to_bytes(size, "big")
    elif tag in _BYTE_STRINGS:
        assert isinstance(v, bytes)
        out += encode_length(len(v)) + v
    elif tag == DataType.VISIBLE_STRING:
        assert isinstance(v, str)
        raw = v.encode("latin-1")
        out += encode_length(len(raw)) + raw
    elif tag == DataType.UTF8_STRING:
        assert isinstance(v, str)
        raw = v.encode("utf-8")
        out += encode_length(len(raw)) + raw
    elif tag in _FLOATS:
        assert isinstance(v, float)
        out += _FLOATS[tag].pack(v)
    elif tag == DataType.DATE_TIME_S:
        assert isinstance(v, DateTimeS)
        out += _DATE_TIME_S.pack(v.year, v.month, v.day, v.hour, v.minute, v.second)
    elif tag == DataType.DATE:
        assert isinstance(v, Date)
        out += _DATE.pack(v.year, v.month, v.day, v.weekday)
    elif tag == DataType.TIME:
        assert isinstance(v, Time)
        out += _TIME.pack(v.hour, v.minute, v.second)
    elif tag == DataType.DATE_TIME:
        assert isinstance(v, DateTime)
        out += _DATE_TIME.pack(
            v.year, v.month, v.day, v.weekday, v.hour, v.minute, v.second, v.milliseconds
        )
    elif tag == DataType.TI:
        assert isinstance(v, Ti)
        out += _TI.pack(v.unit, v.interval)
    elif tag == DataType.SCALER_UNIT:
        assert isinstance(v, ScalerUnit)
        out += _SCALER_UNIT.pack(v.scaler, v.unit)
    elif tag in _WRITTEN:
        out += encode_written(tag, v)
    else:
        raise LocalProtocolError(f"data type {tag} is not supported")


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
    pos += 1
    try:
        return _decode_value(tag, buf, pos, depth)
    except (struct.error, IndexError):
        raise DecodeError(f"{_name(tag)} runs past the end of the data") from None


def _name(tag: int) -> str:
    try:
        return DataType(tag).name
    except ValueError:
        return f"tag {tag}"


def _take(buf: bytes, pos: int, n: int, tag: int) -> bytes:
    if pos + n > len(buf):
        raise DecodeError(f"{_name(tag)} of {n} bytes runs past the end of the data")
    return buf[pos : pos + n]


def _decode_value(tag: int, buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    fixed = _FIXED.get(tag)
    if fixed is not None:  # the plain numbers: most of what meters send
        dtype, unpack, size = fixed
        return Data(dtype, unpack(buf, pos)[0]), pos + size
    dtype = _type(tag)
    if tag == DataType.NULL:
        return Data(dtype), pos
    if tag in (DataType.ARRAY, DataType.STRUCTURE):
        count, pos = decode_length(buf, pos)
        if count > len(buf) - pos:  # every item takes at least its tag byte
            raise DecodeError(f"{dtype.name} of {count} items in {len(buf) - pos} bytes")
        items = []
        for _ in range(count):
            item, pos = decode_data_at(buf, pos, depth + 1)
            items.append(item)
        return Data(dtype, tuple(items)), pos
    if tag == DataType.BOOL:
        return Data(dtype, buf[pos] != 0), pos + 1
    if tag == DataType.BIT_STRING:
        bits, pos = decode_length(buf, pos)
        size = (bits + 7) // 8
        raw = _take(buf, pos, size, tag)
        value = int.from_bytes(raw, "big") >> (size * 8 - bits)
        return Data(dtype, BitString(bits, value)), pos + size
    if tag in _BYTE_STRINGS or tag in (DataType.VISIBLE_STRING, DataType.UTF8_STRING):
        n, pos = decode_length(buf, pos)
        raw = _take(buf, pos, n, tag)
        if tag == DataType.VISIBLE_STRING:
            return Data(dtype, raw.decode("latin-1")), pos + n
        if tag == DataType.UTF8_STRING:
            try:
                return Data(dtype, raw.decode("utf-8")), pos + n
            except UnicodeDecodeError:
                raise DecodeError("UTF8-string is not UTF-8") from None
        return Data(dtype, raw), pos + n
    if tag in _FLOATS:
        f = _FLOATS[tag]
        return Data(dtype, f.unpack_from(buf, pos)[0]), pos + f.size
    if tag == DataType.DATE_TIME_S:
        return Data(dtype, DateTimeS(*_DATE_TIME_S.unpack_from(buf, pos))), pos + 7
    if tag == DataType.DATE:
        return Data(dtype, Date(*_DATE.unpack_from(buf, pos))), pos + 5
    if tag == DataType.TIME:
        return Data(dtype, Time(*_TIME.unpack_from(buf, pos))), pos + 3
    if tag == DataType.DATE_TIME:
        return Data(dtype, DateTime(*_DATE_TIME.unpack_from(buf, pos))), pos + 10
    if tag == DataType.TI:
        return Data(dtype, Ti(*_TI.unpack_from(buf, pos))), pos + 3
    if tag == DataType.SCALER_UNIT:
        return Data(dtype, ScalerUnit(*_SCALER_UNIT.unpack_from(buf, pos))), pos + 2
    if tag == DataType.ROAD:
        road_value, pos = decode_road(buf, pos)
        return Data(dtype, road_value), pos
    if tag == DataType.CSD:
        csd, pos = decode_csd(buf, pos)
        return Data(dtype, csd), pos
    rcsd, pos = decode_rcsd(buf, pos)
    return Data(dtype, rcsd), pos


_TYPES = {t.value: t for t in DataType}
_FIXED = {tag: (_TYPES[tag], f.unpack_from, f.size) for tag, f in _NUMBERS.items()}


def _type(tag: int) -> DataType:
    dtype = _TYPES.get(tag)
    if dtype is None:
        raise DecodeError(f"unknown data type tag {tag}")
    return dtype


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
