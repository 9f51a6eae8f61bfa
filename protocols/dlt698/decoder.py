"""The stream decoder: bytes in, frames out, in the h11 style (same contract as DL/T 645's).

::

    decoder = FrameDecoder()
    decoder.feed(chunk)
    while True:
        try:
            event = decoder.next_event()
        except FrameError as exc:       # the line's fault: count it; the decoder has resynced
            errors[type(exc).__name__] += 1
            continue
        if event is NEED_DATA:
            break
        handle(event)                   # a Frame

Guarantees (tested, the first three by hypothesis on arbitrary bytes):

* ``next_event()`` returns a :class:`Frame` or :data:`NEED_DATA`, or raises a
  :class:`FrameError` subclass. Nothing else escapes, whatever bytes were fed.
* Bound: whenever it returns ``NEED_DATA`` the decoder holds at most :attr:`max_buffered`
  bytes (one short of the longest frame it accepts). Bytes given to ``feed()`` are held until
  drained.
* Valid frames separated by noise are all recovered, whatever the chunking.
* DL/T 698.45 has no second start byte to tell a header from noise; the HCS does that job. A
  ``68H`` whose header checksum fails is noise: skipped and counted in :attr:`skipped_bytes`,
  not raised (FE wake-up bytes likewise). A header whose HCS is right but whose length is
  impossible raises :class:`BadLength`; a frame whose end byte or FCS is wrong raises
  :class:`MissingEnd` / :class:`BadFrameChecksum`. Each drops *one* byte first, so the hunt
  resumes inside the bad candidate and a good frame hidden in its tail is still found.
* Speed without a second behaviour: a header accepted once is remembered, and a repeat skips
  its HCS and address conversion (the FCS and end byte are checked on every frame); a test
  compares decoders that did and did not see the headers, on damaged streams.
* No clock: a stray header may announce up to :data:`MAX_LENGTH` bytes that never come; the
  caller's inter-byte timeout calls :meth:`FrameDecoder.abandon_partial`.
"""

from __future__ import annotations

import enum
from typing import Final

from protocols.dlt698.crc import fcs16
from protocols.dlt698.errors import BadFrameChecksum, BadLength, MissingEnd
from protocols.dlt698.frame import (
    END,
    LENGTH_KB,
    LENGTH_MASK,
    MAX_LENGTH,
    SCRAMBLE,
    START,
    SUB_33,
    AddressType,
    Frame,
    ServerAddress,
    header_length,
)


class _NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData.NEED_DATA
"""Sentinel: no complete frame is buffered yet; feed more bytes."""

NeedData = _NeedData

# SA byte -> (address type, logic address, address length, header length); all 256 are valid.
_SA = [
    (AddressType(sa >> 6), (sa >> 4) & 3, (sa & 0x0F) + 1, header_length((sa & 0x0F) + 1))
    for sa in range(256)
]

# Headers already accepted (L .. HCS, the HCS included) -> what they decide: the server
# address, control byte, client address and length. A line carries answers from a handful of
# meters in a handful of shapes, so a repeat skips the HCS and the address conversion; the FCS
# and end byte are checked on every frame. Per max_length (a length valid for one decoder is a
# BadLength for another) and shared by every decoder with that limit; emptied when full.
_Known = tuple[ServerAddress, int, int, int]
_KNOWN: dict[int, dict[bytes, _Known]] = {}
_KNOWN_LIMIT = 4096


class FrameDecoder:
    """Incremental DL/T 698.45 deframer for one byte stream."""

    __slots__ = ("_buffer", "_known", "_max_length", "_pos", "frames", "skipped_bytes")

    def __init__(self, max_length: int = MAX_LENGTH) -> None:
        if not header_length(1) + 1 <= max_length <= LENGTH_MASK:
            raise ValueError(f"max_length must be {header_length(1) + 1}..{LENGTH_MASK}")
        self._buffer = b""
        self._pos = 0
        self._max_length = max_length
        self._known = _KNOWN.setdefault(max_length, {})
        self.frames = 0
        self.skipped_bytes = 0  # wake-up bytes, noise, and 68H whose header checksum failed

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._pos

    @property
    def max_buffered(self) -> int:
        """Bound on :attr:`buffered` after ``NEED_DATA``: a frame is L + 2 bytes long."""
        return self._max_length + 1

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Hand over bytes from the line; drain with ``next_event()`` until ``NEED_DATA``."""
        if self._pos == len(self._buffer):
            self._buffer = data if type(data) is bytes else bytes(data)
        else:
            self._buffer = self._buffer[self._pos :] + data
        self._pos = 0

    def abandon_partial(self) -> bool:
        """Give up on the incomplete candidate at the head of the buffer (the line went quiet):
        drop its first byte so the next ``next_event()`` hunts inside it. False if empty."""
        if self._pos == len(self._buffer):
            return False
        self._pos += 1
        self.skipped_bytes += 1
        return True

    def next_event(self) -> Frame | NeedData:
        buf = self._buffer
        pos = self._pos
        while True:
            start = buf.find(START, pos)
            if start < 0:
                self.skipped_bytes += len(buf) - pos
                self._buffer = b""
                self._pos = 0
                return NEED_DATA
            if start != pos:
                self.skipped_bytes += start - pos
                pos = self._pos = start
            if len(buf) - pos < 5:
                return self._need_data()
            kind, logic, size, head = _SA[buf[pos + 4]]
            if len(buf) - pos < head:
                return self._need_data()
            header = buf[pos + 1 : pos + head]
            known = self._known.get(header)
            if known is None:
                known = self._header(buf, pos, header, kind, logic, size, head)
                if known is None:
                    pos = self._pos = pos + 1  # a 68H in noise: not a header
                    self.skipped_bytes += 1
                    continue
            server, control, client, length = known
            end_at = pos + length + 1
            if len(buf) <= end_at:
                return self._need_data()
            if buf[end_at] != END:
                self._pos = pos + 1
                raise MissingEnd(f"expected 16H after {length} bytes, got {buf[end_at]:02X}H")
            fcs = buf[end_at - 2] | buf[end_at - 1] << 8
            computed = fcs16(buf[pos + 1 : end_at - 2])
            if fcs != computed:
                self._pos = pos + 1
                raise BadFrameChecksum(f"FCS {fcs:04X}H, computed {computed:04X}H")
            apdu = buf[pos + head : end_at - 2]
            if control & SCRAMBLE:
                apdu = apdu.translate(SUB_33)
            self._pos = end_at + 1
            self.frames += 1
            return Frame(server, apdu, control, client)

    def _header(
        self,
        buf: bytes,
        pos: int,
        header: bytes,
        kind: AddressType,
        logic: int,
        size: int,
        head: int,
    ) -> _Known | None:
        """Check a header seen for the first time: None if its HCS fails (noise), BadLength if
        its length is impossible, else what it decides (remembered for the next time)."""
        if fcs16(header[:-2]) != header[-2] | header[-1] << 8:
            return None
        field = header[0] | header[1] << 8
        length = field & LENGTH_MASK
        if field & LENGTH_KB or length > self._max_length or length < head + 1:
            self._pos = pos + 1
            raise BadLength(
                f"length field {field:#06x}: must count bytes, {head + 1}..{self._max_length}"
            )
        address = buf[pos + 5 : pos + 5 + size][::-1].hex().upper()
        known = (ServerAddress(address, kind, logic), buf[pos + 3], buf[pos + head - 3], length)
        if len(self._known) >= _KNOWN_LIMIT:
            self._known.clear()
        self._known[header] = known
        return known

    def _need_data(self) -> NeedData:
        if self._pos:
            self._buffer = self._buffer[self._pos :]
            self._pos = 0
        return NEED_DATA
