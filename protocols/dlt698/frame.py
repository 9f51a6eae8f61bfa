"""The DL/T 698.45 link-layer frame and its encoder.

On the wire::

    [FE FE FE FE] 68  L0 L1  C  SA  A0 .. An-1  CA  HCS0 HCS1  APDU ...  FCS0 FCS1  16
                   ^  length ^  |   server address   client    header      user data  frame
                 start  (LE) control  (low byte first) address  check                  check  end

* ``L`` (2 bytes, low first): bits 0–13 count the bytes from L to the FCS inclusive (start and
  end bytes excluded); bit 14 says the unit is kB (never used on meter lines: we refuse it).
* ``C``: bit 7 DIR (1 = from the server, the meter), bit 6 PRM (1 = from the side that started
  the exchange), bit 5 fragment (分帧), bit 3 SC scrambling (APDU bytes +33H), bits 0–2 the
  function (1 link management, 3 user data). A client request is ``43H``, a meter's answer
  ``C3H``, a meter's unsolicited report ``83H``.
* ``SA``: bits 6–7 address type (0 single, 1 wildcard, 2 group, 3 broadcast), bits 4–5 logic
  address, bits 0–3 the address length less one (1–16 bytes). The address bytes follow low byte
  first: meter ``000039200933`` is ``33 09 20 39 00 00``. Broadcast is ``C0 AA``; a wildcard
  address has ``A`` in the nibbles that match anything.
* ``CA``: the client (master) address, one byte.
* ``HCS``: CRC-16/X-25 over L .. CA; ``FCS``: CRC-16/X-25 over L .. APDU, both low byte first.

A :class:`Frame` holds the server address as people write it, the control byte, the client
address and the APDU (unscrambled). Length, HCS and FCS exist only on the wire.
"""

from __future__ import annotations

import enum

import msgspec

from protocols.dlt698.crc import fcs16
from protocols.dlt698.errors import LocalProtocolError

START = 0x68
END = 0x16
WAKE_UP = 0xFE
MAX_PREAMBLE = 4
LENGTH_MASK = 0x3FFF
LENGTH_KB = 0x4000
# The longest L this codec accepts by default (bytes from L to FCS). Meters state their own
# limit (CONNECT's 最大接收/发送帧长, commonly 512–2048); 2048 bounds the decoder's buffer.
MAX_LENGTH = 2048

# Control byte bits.
DIR_SERVER = 0x80  # from the server (meter)
PRM_START = 0x40  # from the station that started the exchange
FRAGMENT = 0x20  # 分帧: a 2-byte fragment header starts the APDU
SCRAMBLE = 0x08  # 扰码: every APDU byte +33H on the wire
FUNCTION_MASK = 0x07

# 扰码 is the DL/T 645 offset again, applied and removed with one bytes.translate each way.
ADD_33 = bytes((i + 0x33) & 0xFF for i in range(256))
SUB_33 = bytes((i - 0x33) & 0xFF for i in range(256))


class Function(enum.IntEnum):
    LINK = 1  # 链路管理: login, heartbeat, logout
    USER_DATA = 3  # 用户数据: every APDU service


CLIENT_REQUEST = PRM_START | Function.USER_DATA  # 43H
SERVER_RESPONSE = DIR_SERVER | PRM_START | Function.USER_DATA  # C3H
SERVER_REPORT = DIR_SERVER | Function.USER_DATA  # 83H


class AddressType(enum.IntEnum):
    SINGLE = 0  # 单地址
    WILDCARD = 1  # 通配地址: A nibbles match anything
    GROUP = 2  # 组地址
    BROADCAST = 3  # 广播地址 (AA): every meter acts, none answers


class ServerAddress(msgspec.Struct, frozen=True, gc=False):
    """The server (meter) address: hex digits as written, most significant first."""

    address: str
    kind: AddressType = AddressType.SINGLE
    logic: int = 0  # 逻辑地址 0–3 (bits 4–5 of SA)

    def to_wire(self) -> bytes:
        digits = self.address
        if not 2 <= len(digits) <= 32 or len(digits) % 2:
            raise LocalProtocolError(f"server address {digits!r} is not 1..16 whole bytes")
        try:
            raw = bytes.fromhex(digits)
        except ValueError:
            raise LocalProtocolError(f"server address {digits!r} is not hex") from None
        if not 0 <= self.logic <= 3:
            raise LocalProtocolError(f"logic address {self.logic} is not 0..3")
        sa = int(AddressType(self.kind)) << 6 | self.logic << 4 | (len(raw) - 1)
        return bytes((sa,)) + raw[::-1]


BROADCAST = ServerAddress("AA", AddressType.BROADCAST)


def single(address: str, logic: int = 0) -> ServerAddress:
    return ServerAddress(address.upper(), AddressType.SINGLE, logic)


def wildcard(length: int = 6) -> ServerAddress:
    """The all-A wildcard address: whichever single meter is on the line answers (读地址)."""
    return ServerAddress("AA" * length, AddressType.WILDCARD)


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One DL/T 698.45 frame; ``apdu`` is unscrambled even if the SC bit is set."""

    server: ServerAddress
    apdu: bytes
    control: int = CLIENT_REQUEST
    client: int = 0

    @property
    def from_server(self) -> bool:
        return bool(self.control & DIR_SERVER)

    @property
    def fragmented(self) -> bool:
        return bool(self.control & FRAGMENT)

    @property
    def function(self) -> int:
        return self.control & FUNCTION_MASK


def header_length(address_length: int) -> int:
    """Bytes from the start byte to the HCS inclusive, for an address of this many bytes."""
    return 1 + 2 + 1 + 1 + address_length + 1 + 2


def encode_frame(frame: Frame, preamble: int = 0, max_length: int = MAX_LENGTH) -> bytes:
    """Serialise ``frame`` with ``preamble`` FE wake-up bytes (0–4) in front."""
    if not 0 <= preamble <= MAX_PREAMBLE:
        raise LocalProtocolError(f"preamble must be 0..{MAX_PREAMBLE} FE bytes, got {preamble}")
    if not 0 <= frame.control <= 0xFF or not 0 <= frame.client <= 0xFF:
        raise LocalProtocolError("control and client address must be bytes")
    address = frame.server.to_wire()
    apdu = frame.apdu.translate(ADD_33) if frame.control & SCRAMBLE else frame.apdu
    length = 2 + 1 + len(address) + 1 + 2 + len(apdu) + 2
    if length > max_length:
        raise LocalProtocolError(f"frame length {length} exceeds {max_length}")
    head = length.to_bytes(2, "little") + bytes((frame.control,)) + address + bytes((frame.client,))
    head += fcs16(head).to_bytes(2, "little")
    body = head + apdu
    return b"\xfe" * preamble + b"\x68" + body + fcs16(body).to_bytes(2, "little") + b"\x16"
