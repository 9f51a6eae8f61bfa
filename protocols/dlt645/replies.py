"""Reply parsers: from a decoded :class:`Frame` to a typed answer, or a named error.

Every parser first checks that the frame is a slave reply to the expected function; an abnormal
reply (bit 40H) raises :class:`MeterRefused` with the error flags decoded, any other mismatch
raises :class:`UnexpectedReply` (the meter's fault, a remote error).
"""

from __future__ import annotations

import struct

import msgspec

from protocols.dlt645.errors import (
    ErrorFlag,
    MeterRefused,
    SecurityErrorFlag,
    UnexpectedReply,
)
from protocols.dlt645.frame import ABNORMAL, FUNCTION_MASK, MORE, REPLY, Frame, Function
from protocols.dlt645.items import Item, decode_item


class ReadReply(msgspec.Struct, frozen=True, gc=False):
    """A read (11H) or follow-up (12H) reply: the DI, its raw data, whether more frames follow,
    and for a follow-up the frame sequence number the meter echoed."""

    # gc=False: str, int, bytes, bool and int | None cannot form a cycle; untracked is cheaper.

    address: str
    di: int
    data: bytes
    more: bool = False
    seq: int | None = None

    def item(self) -> Item:
        """Decode the data with the DI table."""
        return decode_item(self.di, self.data)


def refusal(frame: Frame) -> MeterRefused:
    """The :class:`MeterRefused` an abnormal reply stands for (not raised, returned).

    One data byte is the standard ERR word; two bytes are the SERR word of ESAM prepaid meters
    (observed in answers to 1CH relay commands), low byte first.
    """
    function = frame.control & FUNCTION_MASK
    if len(frame.data) == 1:
        raw = frame.data[0]
        return MeterRefused(function, ErrorFlag(raw), raw)
    if len(frame.data) == 2:
        raw = int.from_bytes(frame.data, "little")
        return MeterRefused(function, SecurityErrorFlag(raw), raw)
    raise UnexpectedReply(f"abnormal reply with {len(frame.data)} data bytes (1 or 2 expected)")


def check_reply(frame: Frame, function: int) -> Frame:
    """Raise unless ``frame`` is a normal reply to ``function``; return it for chaining."""
    control = frame.control
    if not control & REPLY:
        raise UnexpectedReply(f"control {control:02X}H is a request, not a reply")
    if control & FUNCTION_MASK != function:
        raise UnexpectedReply(
            f"reply to function {control & FUNCTION_MASK:02X}H, not {function:02X}H"
        )
    if control & ABNORMAL:
        raise refusal(frame)
    return frame


# The read-reply control codes (plain ints, not Function members: enum comparisons cost more than
# the rest of the check) -> (more frames follow, is a follow-up): 91H / B1H read, 92H / B2H
# follow-up.
_READ_REPLIES: dict[int, tuple[bool, bool]] = {
    0x91: (False, False),
    0xB1: (True, False),
    0x92: (False, True),
    0xB2: (True, True),
}
# By the data's length less 4: the DI (low byte first) and what follows it, in one C call.
_SPLIT_DI = [struct.Struct(f"<I{n}s").unpack_from for n in range(256)]


def parse_read_reply(frame: Frame, di: int | None = None) -> ReadReply:
    """Parse a reply to read (11H, control 91H/B1H) or follow-up (12H, 92H/B2H).

    If ``di`` is given the reply must be for it: a meter answering another DI is a remote fault
    (it happens when a previous late reply is still on the line).
    """
    control = frame.control
    kind = _READ_REPLIES.get(control)
    if kind is None:
        if control & ~MORE not in _READ_REPLIES:
            check_reply(frame, control & FUNCTION_MASK)  # raises the precise error
        raise UnexpectedReply(f"control {control:02X}H is not a read reply")
    data = frame.data
    if len(data) < 4:
        raise UnexpectedReply(f"read reply has {len(data)} data bytes, fewer than a DI")
    try:
        got, payload = _SPLIT_DI[len(data) - 4](data)
    except IndexError:  # longer than a decoded frame can be: built by hand
        got, payload = int.from_bytes(data[:4], "little"), data[4:]
    if di is not None and got != di:
        raise UnexpectedReply(f"reply is for DI {got:08X}, asked for {di:08X}")
    more, followup = kind
    if not followup:
        return ReadReply(frame.address, got, payload, more)
    if not payload:
        raise UnexpectedReply("follow-up reply lacks its sequence byte")
    return ReadReply(frame.address, got, payload[:-1], more, payload[-1])


def parse_address_reply(frame: Frame) -> str:
    """Reply to read-address (93H): the meter's 12-digit address (also in the frame header)."""
    check_reply(frame, Function.READ_ADDRESS)
    if len(frame.data) != 6:
        raise UnexpectedReply(f"address reply has {len(frame.data)} bytes, not 6")
    digits = frame.data[::-1].hex().upper()
    if not digits.isdigit():
        raise UnexpectedReply(f"address {digits} is not BCD")
    return digits


def parse_ack(frame: Frame, function: int) -> None:
    """Replies that carry nothing but success: write (94H), relay control (9CH), freeze (96H).

    Raises :class:`MeterRefused` on an abnormal reply (e.g. DC 01 04: password error /
    unauthorised on a relay command).
    """
    check_reply(frame, function)


def parse_baud_reply(frame: Frame) -> int:
    """Reply to change-baud (97H): the feature byte Z the meter confirmed."""
    check_reply(frame, Function.CHANGE_BAUD)
    if len(frame.data) != 1:
        raise UnexpectedReply("baud reply must carry one feature byte")
    return frame.data[0]


# --- the meter's side, for the simulator ------------------------------------------------------


def read_reply(address: str, di: int, data: bytes, *, more: bool = False) -> Frame:
    """A meter's normal answer to read data: control 91H (B1H if more frames follow)."""
    control = REPLY | Function.READ_DATA | (MORE if more else 0)
    return Frame(address, control, di.to_bytes(4, "little") + data)


def ack_reply(address: str, function: int, data: bytes = b"") -> Frame:
    """A normal answer with no or little data, e.g. 9CH to a relay command."""
    return Frame(address, REPLY | function, data)


def abnormal_reply(address: str, function: int, flags: ErrorFlag | SecurityErrorFlag) -> Frame:
    """An abnormal answer: control C0H | function, one ERR byte or two SERR bytes."""
    size = 1 if isinstance(flags, ErrorFlag) else 2
    return Frame(address, REPLY | ABNORMAL | function, int(flags).to_bytes(size, "little"))
