"""Request builders: the frames a master (the edge agent) sends.

Each returns a :class:`Frame`; ``encode_frame(frame)`` turns it into bytes. Nothing here knows
the time: ``broadcast_time`` and ``relay_control`` take the moment from the caller, in the
meter's local time, as a :class:`MeterTime`.
"""

from __future__ import annotations

import enum

import msgspec

from protocols.dlt645.bcd import MeterTime, byte_to_bcd, encode_time
from protocols.dlt645.errors import LocalProtocolError
from protocols.dlt645.frame import BROADCAST_ADDRESS, WILDCARD_ADDRESS, Frame, Function


class RelayAction(enum.IntEnum):
    """N1 of the relay-control command (1CH, 远程控制)."""

    TRIP = 0x1A  # 跳闸
    CLOSE_PERMITTED = 0x1B  # 合闸允许: customer restores supply with the button
    CLOSE_DIRECT = 0x1C  # 直接合闸
    ALARM = 0x2A  # 报警
    ALARM_CLEAR = 0x2B  # 报警解除
    KEEP_POWER = 0x3A  # 保电: no trip of any cause until lifted
    KEEP_POWER_CLEAR = 0x3B  # 保电解除


class Password(msgspec.Struct, frozen=True):
    """A meter password: ``level`` (PA, 0–9; 02 and 04 are the usual write levels) and the
    6-digit ``code`` as people write it (P2 P1 P0). On the wire: PA P0 P1 P2."""

    level: int
    code: str = "000000"

    def to_wire(self) -> bytes:
        if not 0 <= self.level <= 0xFF or len(self.code) != 6:
            raise LocalProtocolError("password needs a level byte and 6 hex digits")
        try:
            return bytes((self.level,)) + bytes.fromhex(self.code)[::-1]
        except ValueError:
            raise LocalProtocolError(f"password code {self.code!r} is not hex") from None


def _operator(operator: str) -> bytes:
    """Operator code C3 C2 C1 C0 as written (8 hex digits); on the wire C0 first."""
    if len(operator) != 8:
        raise LocalProtocolError(f"operator code must be 8 hex digits, got {operator!r}")
    try:
        return bytes.fromhex(operator)[::-1]
    except ValueError:
        raise LocalProtocolError(f"operator code {operator!r} is not hex") from None


def _di(di: int) -> bytes:
    if not 0 <= di <= 0xFFFFFFFF:
        raise LocalProtocolError(f"DI {di:#x} is not 4 bytes")
    return di.to_bytes(4, "little")


def read_request(address: str, di: int) -> Frame:
    """Read data (11H): ``68 A0..A5 68 11 04 DI0..DI3 CS 16``."""
    return Frame(address, Function.READ_DATA, _di(di))


def read_followup(address: str, di: int, seq: int) -> Frame:
    """Read follow-up data (12H) after a reply with the 'more frames' bit (20H): DI + SEQ,
    where SEQ counts the follow-up frames asked for, starting at 1."""
    if not 0 <= seq <= 0xFF:
        raise LocalProtocolError(f"follow-up sequence {seq} is not a byte")
    return Frame(address, Function.READ_FOLLOWUP, _di(di) + bytes((seq,)))


def read_address_request() -> Frame:
    """Read address (13H), sent to the wildcard address: only one meter may be on the bus."""
    return Frame(WILDCARD_ADDRESS, Function.READ_ADDRESS, b"")


def write_request(
    address: str, di: int, data: bytes, password: Password, operator: str = "00000000"
) -> Frame:
    """Write data (14H): DI, password, operator code, then the data (e.g. from encode_item)."""
    payload = _di(di) + password.to_wire() + _operator(operator) + data
    if len(payload) > 50 + 12:
        raise LocalProtocolError("write data is limited to 50 bytes after DI/password/operator")
    return Frame(address, Function.WRITE_DATA, payload)


def broadcast_time(when: MeterTime) -> Frame:
    """Broadcast time sync (08H) to 999999999999: data ssmmhhDDMMYY. Meters do not reply."""
    return Frame(BROADCAST_ADDRESS, Function.BROADCAST_TIME, encode_time(when, "YYMMDDhhmmss"))


def freeze(
    address: str,
    *,
    month: int | None = None,
    day: int | None = None,
    hour: int | None = None,
    minute: int | None = None,
) -> Frame:
    """Freeze (16H), data mmhhDDMM. A field left None is sent as 99 (every): month None means a
    monthly freeze at day/hour/minute, all None an immediate freeze. Broadcast allowed."""
    parts = [minute, hour, day, month]
    return Frame(
        address,
        Function.FREEZE,
        bytes(0x99 if p is None else byte_to_bcd(p) for p in parts),
    )


_BAUD_BITS = {600: 0x02, 1200: 0x04, 2400: 0x08, 4800: 0x10, 9600: 0x20, 19200: 0x40}


def change_baud(address: str, baud: int) -> Frame:
    """Change baud rate (17H): one feature byte Z with the bit of the new rate."""
    if baud not in _BAUD_BITS:
        raise LocalProtocolError(f"baud {baud} not in {sorted(_BAUD_BITS)}")
    return Frame(address, Function.CHANGE_BAUD, bytes((_BAUD_BITS[baud],)))


def change_password(address: str, old: Password, new: Password) -> Frame:
    """Change password (18H): DI 04000C(level+1), old PA P0..P2, new PA P0..P2."""
    return Frame(
        address,
        Function.CHANGE_PASSWORD,
        _di(0x04000C00 + new.level + 1) + old.to_wire() + new.to_wire(),
    )


def relay_control(
    address: str,
    action: RelayAction,
    password: Password,
    operator: str,
    valid_until: MeterTime,
) -> Frame:
    """Relay control (1CH): PA P0..P2, C0..C3, N1 action, N2 reserved, N3..N8 validity
    ssmmhhDDMMYY. The meter refuses a command whose validity has passed, so a delayed command
    cannot trip a customer hours later; ``valid_until`` is the caller's now plus a margin."""
    data = (
        password.to_wire()
        + _operator(operator)
        + bytes((RelayAction(action), 0x00))
        + encode_time(valid_until, "YYMMDDhhmmss")
    )
    return Frame(address, Function.RELAY_CONTROL, data)
