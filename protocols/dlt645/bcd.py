"""BCD numbers and BCD timestamps as DL/T 645 carries them.

Every multi-byte field travels low byte first, so a ``XXXXXX.XX`` register holding 123456.78
arrives (after the 33H offset is removed) as ``78 56 34 12``. Reversing the slice and reading
its hex gives the decimal digits directly — ``int(raw[::-1].hex())`` — which is both the fastest
conversion in CPython and a free validity check: a non-BCD nibble shows up as a letter.

Signed fields put the sign in the top bit of the most significant byte (最高位为符号位), so their
top digit is at most 7. Decoding problems are the meter's fault (:class:`BcdError`, remote);
encoding problems are ours (:class:`LocalProtocolError`).
"""

from __future__ import annotations

import msgspec

from protocols.dlt645.errors import BcdError, LocalProtocolError


def bcd_to_int(raw: bytes, *, signed: bool = False) -> int:
    """Decode a BCD field given in wire order (low byte first) to an integer of its digits."""
    if not raw:
        raise LocalProtocolError("empty BCD field")
    big = raw[::-1]
    negative = False
    if signed and big[0] & 0x80:
        negative = True
        big = bytes((big[0] & 0x7F,)) + big[1:]
    digits = big.hex()
    if not digits.isdigit():
        raise BcdError(f"non-BCD byte in field {raw.hex(' ').upper()}")
    value = int(digits)
    return -value if negative else value


def int_to_bcd(value: int, size: int, *, signed: bool = False) -> bytes:
    """Encode an integer of digits as a ``size``-byte BCD field in wire order."""
    if size < 1:
        raise LocalProtocolError(f"BCD field size must be at least 1, got {size}")
    magnitude = -value if value < 0 else value
    if value < 0 and not signed:
        raise LocalProtocolError(f"{value} is negative but the field is unsigned")
    limit = 8 * 10 ** (2 * size - 1) if signed else 10 ** (2 * size)
    if magnitude >= limit:
        raise LocalProtocolError(f"{value} does not fit {size} BCD bytes (limit {limit - 1})")
    big = bytearray.fromhex(f"{magnitude:0{2 * size}d}")
    if value < 0:
        big[0] |= 0x80
    big.reverse()
    return bytes(big)


def byte_to_bcd(value: int) -> int:
    """One byte of two BCD digits: 25 -> 0x25."""
    if not 0 <= value <= 99:
        raise LocalProtocolError(f"{value} is not a two-digit number")
    return (value // 10) << 4 | value % 10


class MeterTime(msgspec.Struct, frozen=True):
    """A timestamp as the meter states it, in the meter's own local time.

    No time zone is attached on purpose: the meter's zone is a setting of the installation, so
    turning this into UTC epoch milliseconds is the caller's job. Fields a format does not carry
    are 0 (``hhmmss`` has no date); meters fill never-used event records with zeros, which
    decodes to the all-zero :attr:`is_unset` value rather than an error.
    """

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0
    weekday: int | None = None  # 0 = Sunday, as in DL/T 645 (YYMMDDWW)

    @property
    def is_unset(self) -> bool:
        return self.month == 0 and self.day == 0 and self.hour == 0 and self.minute == 0

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (self.year, self.month, self.day, self.hour, self.minute, self.second)


# Token -> (attribute, lowest, highest). 0 is allowed for month/day so that unset records decode.
_TOKENS: dict[str, tuple[str, int, int]] = {
    "YY": ("year", 0, 99),
    "MM": ("month", 0, 12),
    "DD": ("day", 0, 31),
    "WW": ("weekday", 0, 6),
    "hh": ("hour", 0, 23),
    "mm": ("minute", 0, 59),
    "ss": ("second", 0, 59),
}
TIME_LAYOUTS = frozenset({"YYMMDDhhmm", "YYMMDDhhmmss", "YYMMDDWW", "hhmmss"})


def _tokens(layout: str) -> list[str]:
    if layout not in TIME_LAYOUTS:
        raise LocalProtocolError(f"unknown time layout {layout!r}")
    return [layout[i : i + 2] for i in range(0, len(layout), 2)]


def decode_time(raw: bytes, layout: str) -> MeterTime:
    """Decode a BCD timestamp in wire order; ``layout`` is written most significant first."""
    tokens = _tokens(layout)
    if len(raw) != len(tokens):
        raise LocalProtocolError(f"{layout} needs {len(tokens)} bytes, got {len(raw)}")
    digits = raw[::-1].hex()
    if not digits.isdigit():
        raise BcdError(f"non-BCD byte in {layout} field {raw.hex(' ').upper()}")
    parts: dict[str, int] = {"year": 0, "month": 0, "day": 0}
    for i, token in enumerate(tokens):
        name, low, high = _TOKENS[token]
        value = int(digits[2 * i : 2 * i + 2])
        if not low <= value <= high:
            raise BcdError(f"{token}={value} out of range in {layout} field")
        parts[name] = value
    if "YY" in tokens and (parts["year"] or parts["month"] or parts["day"]):
        parts["year"] += 2000
    weekday = parts.pop("weekday", None)
    return MeterTime(**parts, weekday=weekday)


def encode_time(when: MeterTime, layout: str) -> bytes:
    """Encode a :class:`MeterTime` as BCD in wire order (low byte first)."""
    values = {
        "YY": when.year % 100,
        "MM": when.month,
        "DD": when.day,
        "WW": when.weekday or 0,
        "hh": when.hour,
        "mm": when.minute,
        "ss": when.second,
    }
    out = bytearray()
    for token in _tokens(layout):
        _, low, high = _TOKENS[token]
        if not low <= values[token] <= high:
            raise LocalProtocolError(f"{token}={values[token]} out of range for {layout}")
        out.append(byte_to_bcd(values[token]))
    out.reverse()
    return bytes(out)
