"""Modbus TCP (MBAP) frames for a client, sans I/O: read and write requests out, replies in.

An ADU is the 7-byte MBAP header — transaction id, protocol id 0, length (unit id + PDU), unit
id — and the PDU: the function code and its fields. :class:`MbapDecoder` cuts a byte stream
into frames (limits before decoding: a length field outside 2..254 is a broken stream, not a
frame to wait for); :func:`read_reply_data` checks a reply's PDU against its request and hands
back the data bytes, so the caller can unpack whole register blocks with ``struct`` at once.
Replies that are not what was asked for raise :class:`ReplyError`; a Modbus exception
response raises :class:`ExceptionReply`, carrying its code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocols.modbus.registers import Function

MBAP = struct.Struct(">HHHB")  # transaction id, protocol id, length, unit id
_READ = struct.Struct(">HHHBBHH")  # MBAP + function, start, count
_WRITE_ONE = struct.Struct(">HHHBBHH")  # MBAP + function, address, value
MAX_PDU = 253  # Modbus application data unit limit (260 bytes on TCP) less MBAP
MAX_READ_REGISTERS = 125
MAX_READ_BITS = 2000

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class FrameError(ValueError):
    """The byte stream is not Modbus TCP (the connection is beyond repair)."""


class ReplyError(ValueError):
    """A well-framed reply that does not answer the request (wrong function, short data)."""


class ExceptionReply(Exception):
    """The device answered with a Modbus exception response."""

    def __init__(self, function: int, code: int) -> None:
        name = EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__(f"exception {code} ({name}) to function {function}")
        self.function, self.code = function, code


@dataclass(frozen=True, slots=True)
class Frame:
    transaction: int
    unit: int
    pdu: bytes


def encode_read(transaction: int, unit: int, function: Function, start: int, count: int) -> bytes:
    """A read request (FC 1–4) for ``count`` registers or bits from ``start``."""
    limit = MAX_READ_BITS if function.is_bits else MAX_READ_REGISTERS
    if not 1 <= count <= limit or not 0 <= start <= 0xFFFF or start + count > 0x10000:
        raise ValueError(f"cannot read {count} from {start} in one request")
    return _READ.pack(transaction & 0xFFFF, 0, 6, unit, function.read_code, start, count)


def encode_write_coil(transaction: int, unit: int, address: int, on: bool) -> bytes:
    """FC 5: one coil on (0xFF00) or off."""
    return _WRITE_ONE.pack(transaction & 0xFFFF, 0, 6, unit, 5, address, 0xFF00 if on else 0)


def encode_write_registers(
    transaction: int, unit: int, address: int, values: tuple[int, ...] | list[int]
) -> bytes:
    """FC 6 for one register, FC 16 for several."""
    if len(values) == 1:
        return _WRITE_ONE.pack(transaction & 0xFFFF, 0, 6, unit, 6, address, values[0])
    if not 1 <= len(values) <= 123:
        raise ValueError(f"cannot write {len(values)} registers in one request")
    body = struct.pack(f">BHHB{len(values)}H", 16, address, len(values), 2 * len(values), *values)
    return MBAP.pack(transaction & 0xFFFF, 0, len(body) + 1, unit) + body


class MbapDecoder:
    """Bytes in, frames out. ``feed`` then ``frames`` until it returns []."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def frames(self) -> list[Frame]:
        out: list[Frame] = []
        buf = self._buffer
        while len(buf) >= 7:
            transaction, protocol, length, unit = MBAP.unpack_from(buf)
            if protocol != 0 or not 2 <= length <= MAX_PDU + 1:
                raise FrameError(f"not a Modbus TCP header (protocol {protocol}, length {length})")
            end = 6 + length
            if len(buf) < end:
                break
            out.append(Frame(transaction, unit, bytes(buf[7:end])))
            del buf[:end]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buffer)


def read_reply_data(function: Function, count: int, pdu: bytes) -> bytes:
    """The data bytes of a read reply (2 per register, big-endian; bits packed LSB first)."""
    code = function.read_code
    if pdu and pdu[0] == code | 0x80:
        raise ExceptionReply(code, pdu[1] if len(pdu) > 1 else 0)
    if not pdu or pdu[0] != code:
        raise ReplyError(f"reply to function {code} has function {pdu[0] if pdu else None}")
    size = (count + 7) // 8 if function.is_bits else 2 * count
    if len(pdu) < 2 or pdu[1] != size or len(pdu) != 2 + size:
        raise ReplyError(f"reply to a read of {count} carries {len(pdu) - 2} data bytes")
    return pdu[2:]


def write_reply_ok(request: bytes, pdu: bytes) -> None:
    """Check a write reply: an echo of the request's function, address and value/count."""
    code = request[7]
    if pdu and pdu[0] == code | 0x80:
        raise ExceptionReply(code, pdu[1] if len(pdu) > 1 else 0)
    if pdu != request[7:12]:
        raise ReplyError(f"reply to write function {code} does not echo it")


def unpack_bits(data: bytes, count: int) -> list[int]:
    return [(data[i >> 3] >> (i & 7)) & 1 for i in range(count)]
