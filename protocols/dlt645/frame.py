"""The DL/T 645-2007 frame and its encoder.

On the wire::

    [FE FE FE FE]  68  A0 A1 A2 A3 A4 A5  68  C  L  DATA+33H ...  CS  16
     wake-up, 0–4   ^  address, BCD, low    ^  |  |                ^    end
     (not in CS)    |  byte first           |  |  length of DATA   sum mod 256 of every byte
                    start                   start  control code     from the first 68 to DATA

A :class:`Frame` holds the address as the 12-digit string people read off the nameplate
(``"000000000001"`` goes on the wire as ``01 00 00 00 00 00``), the control code, and the data
with the 33H offset already removed. Checksum, length and offset exist only on the wire.
"""

from __future__ import annotations

import enum
from zlib import adler32

import msgspec

from protocols.dlt645.errors import LocalProtocolError

START = 0x68
END = 0x16
WAKE_UP = 0xFE
MAX_DATA_LENGTH = 200  # 7.1: L ≤ 200 for reads (≤ 50 for writes); the frame bound rests on it
FRAME_OVERHEAD = 12  # 68 + 6 address + 68 + C + L + CS + 16
MAX_FRAME_LENGTH = FRAME_OVERHEAD + MAX_DATA_LENGTH  # 212 bytes, preamble excluded
MAX_PREAMBLE = 4

WILDCARD_ADDRESS = "AAAAAAAAAAAA"  # 通配地址: any single meter on the bus answers with its own
BROADCAST_ADDRESS = "999999999999"  # 广播地址: time sync and freeze; meters do not reply

# Control code bits (7.1.4): D7 direction, D6 abnormal reply, D5 more frames follow.
REPLY = 0x80
ABNORMAL = 0x40
MORE = 0x20
FUNCTION_MASK = 0x1F


class Function(enum.IntEnum):
    """Function codes, D4..D0 of the control code."""

    SECURITY = 0x03  # 安全认证 (ESAM prepaid meters, State Grid extension)
    BROADCAST_TIME = 0x08  # 广播校时
    READ_DATA = 0x11  # 读数据
    READ_FOLLOWUP = 0x12  # 读后续数据
    READ_ADDRESS = 0x13  # 读通信地址
    WRITE_DATA = 0x14  # 写数据
    WRITE_ADDRESS = 0x15  # 写通信地址
    FREEZE = 0x16  # 冻结命令
    CHANGE_BAUD = 0x17  # 更改通信速率
    CHANGE_PASSWORD = 0x18  # 修改密码
    CLEAR_DEMAND = 0x19  # 最大需量清零
    CLEAR_METER = 0x1A  # 电表清零
    CLEAR_EVENTS = 0x1B  # 事件清零
    RELAY_CONTROL = 0x1C  # 跳合闸、报警、保电 (远程控制)


# The 33H offset (7.1.6), applied and removed with one C-level bytes.translate each way.
ADD_33 = bytes((i + 0x33) & 0xFF for i in range(256))
SUB_33 = bytes((i - 0x33) & 0xFF for i in range(256))

# Address bytes that may appear: two BCD digits, or AAH (wildcard, also in the high bytes for
# 缩位寻址). Used with bytes.translate(None, ...) to find any other byte in one C call.
ADDRESS_BYTES = bytes(sorted({(h << 4) | low for h in range(10) for low in range(10)} | {0xAA}))


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One DL/T 645 frame, data un-offset. ``address`` is 12 characters: digits, or ``A`` pairs."""

    # gc=False: a str, an int and bytes can never form a reference cycle, so the collector
    # need not track frames (cheaper to create, and no collections triggered by a stream).

    address: str
    control: int
    data: bytes = b""

    @property
    def function(self) -> int:
        return self.control & FUNCTION_MASK

    @property
    def is_reply(self) -> bool:
        return bool(self.control & REPLY)

    @property
    def is_abnormal(self) -> bool:
        return bool(self.control & ABNORMAL)

    @property
    def has_more(self) -> bool:
        return bool(self.control & MORE)


def address_to_wire(address: str) -> bytes:
    """``"000000000001"`` -> ``01 00 00 00 00 00``; raises unless 12 BCD/AA digits."""
    if len(address) != 12:
        raise LocalProtocolError(f"address must be 12 digits, got {address!r}")
    try:
        big = bytes.fromhex(address)
    except ValueError:
        raise LocalProtocolError(f"address {address!r} is not 12 digits") from None
    if big.translate(None, ADDRESS_BYTES):
        raise LocalProtocolError(f"address {address!r} has a byte that is neither BCD nor AA")
    return big[::-1]


# Encoding memo: a master sends the same few requests (same meter, control code and length)
# over and over, so (address, control, length, preamble) -> the validated bytes up to L and
# their part of the checksum; only the data is translated and summed each time. Cleared when
# full (a process talks to a bounded set of meters).
_PREFIXES: dict[tuple[str, int, int, int], tuple[bytes, int]] = {}
_PREFIX_LIMIT = 4096
_CS_END = [bytes((cs, END)) for cs in range(256)]


def encode_frame(frame: Frame, preamble: int = 4) -> bytes:
    """Serialise ``frame`` with ``preamble`` FE wake-up bytes (0–4) in front."""
    data = frame.data
    known = _PREFIXES.get((frame.address, frame.control, len(data), preamble))
    if known is None:
        return _encode_checked(frame, preamble)
    prefix, prefix_sum = known
    wire = data.translate(ADD_33)
    # Adler-32's low 16 bits are 1 + the byte sum (exact: at most 200 bytes of FFH); the 1 is
    # taken off prefix_sum, and the high bits vanish under & 0xFF.
    return prefix + wire + _CS_END[(prefix_sum + adler32(wire)) & 0xFF]


def _encode_checked(frame: Frame, preamble: int) -> bytes:
    if not 0 <= preamble <= MAX_PREAMBLE:
        raise LocalProtocolError(f"preamble must be 0..{MAX_PREAMBLE} FE bytes, got {preamble}")
    if not 0 <= frame.control <= 0xFF:
        raise LocalProtocolError(f"control code {frame.control} is not a byte")
    length = len(frame.data)
    if length > MAX_DATA_LENGTH:
        raise LocalProtocolError(f"data is {length} bytes; DL/T 645-2007 allows {MAX_DATA_LENGTH}")
    head = b"\x68" + address_to_wire(frame.address.upper()) + bytes((START, frame.control, length))
    if len(_PREFIXES) >= _PREFIX_LIMIT:
        _PREFIXES.clear()
    _PREFIXES[frame.address, frame.control, length, preamble] = (
        b"\xfe" * preamble + head,
        sum(head) - 1,
    )
    body = head + frame.data.translate(ADD_33)
    return b"\xfe" * preamble + body + bytes((sum(body) & 0xFF, END))
