"""The stream decoder: bytes in, frames out, in the h11 style.

::

    decoder = FrameDecoder()
    decoder.feed(chunk)                 # whatever the serial port or TCP gateway delivered
    while True:
        try:
            event = decoder.next_event()
        except FrameError as exc:       # the line's fault: count it; the decoder has resynced
            errors[type(exc).__name__] += 1
            continue
        if event is NEED_DATA:
            break
        handle(event)                   # a Frame

Guarantees (each one is tested, most by hypothesis on arbitrary bytes):

* ``next_event()`` returns a :class:`Frame` or :data:`NEED_DATA`, or raises a
  :class:`FrameError` subclass. Nothing else escapes, whatever bytes were fed.
* FE wake-up bytes and any noise before a ``68H`` are skipped (counted in
  :attr:`FrameDecoder.skipped_bytes`, not raised: a lone ``68H`` that is not followed by a
  second ``68H`` seven bytes later is noise too).
* A candidate whose header is right (``68`` six bytes ``68``) but whose length, end byte,
  checksum or address is wrong raises the named error after dropping *one* byte, so the hunt for
  the next ``68H`` starts inside the bad candidate: a good frame hidden in a bad one's tail is
  still found. After raising, the decoder keeps working on the bytes that follow.
* Bound: whenever ``next_event()`` returns ``NEED_DATA`` the decoder holds fewer than
  :data:`MAX_FRAME_LENGTH` (212) bytes — an incomplete candidate can be at most one byte short
  of the longest legal frame (L ≤ 200). Bytes passed to ``feed()`` are held until drained.
* No clock: if the line goes quiet in the middle of a candidate (a stray header announced 200
  bytes that never come), the caller's timeout calls :meth:`FrameDecoder.abandon_partial`.
* ``feed()`` keeps a ``bytes`` object as it is and copies a ``bytearray`` or ``memoryview``, so
  the caller may reuse its read buffer at once.
* Speed without a second behaviour: a frame whose header was accepted before takes a fast path
  that only ever returns what the general hunt would have returned (tested by comparing a
  decoder that has never seen the headers with one that has, on damaged streams).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from typing import Final
from zlib import adler32

from protocols.dlt645.errors import BadAddress, BadChecksum, BadLength, MissingEnd
from protocols.dlt645.frame import (
    ADDRESS_BYTES,
    END,
    FRAME_OVERHEAD,
    MAX_DATA_LENGTH,
    START,
    SUB_33,
    Frame,
)


class _NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData.NEED_DATA
"""Sentinel: no complete frame is buffered yet; feed more bytes."""

NeedData = _NeedData

# --- the fast path's memory of headers already validated -------------------------------------
#
# A line carries replies from a handful of meters, each in a handful of shapes, so the ten
# header bytes ``68 A0..A5 68 C L`` repeat. Once the general hunt has accepted a frame, its
# header maps to everything the header decides: the address string, the control code, the
# frame's size and the header's part of the checksum. A repeat then costs one struct call (cut
# header, data, CS and end byte) and one dict lookup instead of a dozen index operations, the
# address check and the hex conversion. Kept per ``max_data_length`` (a header with L = 210 is
# valid for one decoder and a BadLength for another) and shared by every decoder with that
# limit, since the agent makes a fresh decoder per transaction. A table that fills (only noise
# passing the checksum could fill it) is emptied and relearns.

_Known = tuple[str, int, int, int]  # address, control, frame size, header sum
_Unpack = Callable[[bytes, int], tuple[bytes, bytes, int, int]]
_LAYOUTS: list[_Unpack] = [struct.Struct(f"<10s{n}sBB").unpack_from for n in range(256)]
_KNOWN: list[dict[bytes, _Known]] = [{} for _ in range(256)]  # by max_data_length
_KNOWN_LIMIT = 4096


def _learn(known: dict[bytes, _Known], header: bytes, address: str) -> None:
    if len(known) >= _KNOWN_LIMIT:
        known.clear()
    # zlib's Adler-32 keeps 1 + the byte sum in its low 16 bits, exact for up to 256 bytes of
    # FFH (the data is at most 255), and its high bits vanish under & 0xFF: the checksum is
    # (this + adler32(data)) & 0xFF, with adler's 1 taken off here.
    known[header] = (address, header[8], FRAME_OVERHEAD + header[9], sum(header) - 1)


class FrameDecoder:
    """Incremental DL/T 645 deframer for one byte stream (one serial line or TCP connection)."""

    # The unread bytes are _buffer[_pos:]. An immutable bytes and an offset rather than a
    # bytearray: a reply fed whole is kept without a copy, and consuming a frame or dropping a
    # byte is an index move, never a memmove.
    __slots__ = ("_buffer", "_known", "_max_length", "_pos", "frames", "skipped_bytes")

    def __init__(self, max_data_length: int = MAX_DATA_LENGTH) -> None:
        # 200 is the 2007 limit; some meters' vendor extensions send up to 255, and a deployment
        # that must talk to them can raise it here (the buffer bound grows with it).
        if not 0 <= max_data_length <= 255:
            raise ValueError("max_data_length must be 0..255")
        self._buffer = b""
        self._pos = 0
        self._max_length = max_data_length
        self._known = _KNOWN[max_data_length]
        self.frames = 0
        self.skipped_bytes = 0  # FE wake-up bytes and noise before frames, and stray 68H

    @property
    def buffered(self) -> int:
        """Bytes currently held (fed but not yet consumed)."""
        return len(self._buffer) - self._pos

    @property
    def max_buffered(self) -> int:
        """Bound on :attr:`buffered` after ``NEED_DATA``: one byte short of the longest frame."""
        return FRAME_OVERHEAD + self._max_length - 1

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Hand over bytes from the line. Drain with ``next_event()`` until ``NEED_DATA``
        between feeds, as the loop above does: what is still held then (fewer than
        :attr:`max_buffered` bytes) is copied once to join the new bytes."""
        if self._pos == len(self._buffer):
            # Nothing held: keep the caller's bytes as they are, or an immutable copy of a
            # bytearray / memoryview the caller may reuse.
            self._buffer = data if type(data) is bytes else bytes(data)
        else:
            self._buffer = self._buffer[self._pos :] + data
        self._pos = 0

    def abandon_partial(self) -> bool:
        """Give up on the incomplete candidate at the head of the buffer (the line went quiet).

        Drops its first byte so the next ``next_event()`` hunts for a frame inside it. Returns
        False if nothing was buffered. Call ``next_event()`` until ``NEED_DATA`` afterwards, and
        repeat while this returns True if the whole remainder should be discarded.
        """
        if self._pos == len(self._buffer):
            return False
        self._pos += 1
        self.skipped_bytes += 1
        return True

    def next_event(self) -> Frame | NeedData:
        # Fast path: the first 68H starts a header seen before and the frame behind it is
        # complete, ends in 16H and sums right — every reply on a healthy line. Nothing changes
        # unless all of that holds; anything else (noise, a partial frame, an error, a new
        # header) goes to the general hunt, which decides as if the fast path did not exist.
        buf = self._buffer
        pos = self._pos
        start = buf.find(START, pos)
        if start >= 0:
            try:
                header, data, checksum, end = _LAYOUTS[buf[start + 9]](buf, start)
                address, control, size, header_sum = self._known[header]
            except (IndexError, struct.error, KeyError):  # incomplete, or a header not yet seen
                return self._hunt()
            if end == END and (header_sum + adler32(data)) & 0xFF == checksum:
                self._pos = start + size
                self.skipped_bytes += start - pos
                self.frames += 1
                return Frame(address, control, data.translate(SUB_33))
        return self._hunt()

    def _hunt(self) -> Frame | NeedData:
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
            if len(buf) - pos < 10:
                self._compact()
                return NEED_DATA
            if buf[pos + 7] != START:
                # Not a header: a 68H inside noise. Skip it silently and hunt on.
                pos = self._pos = pos + 1
                self.skipped_bytes += 1
                continue
            length = buf[pos + 9]
            if length > self._max_length:
                self._pos = pos + 1
                raise BadLength(f"length byte {length} exceeds {self._max_length}")
            checksum_at = pos + 10 + length
            if len(buf) < checksum_at + 2:
                self._compact()
                return NEED_DATA
            if buf[checksum_at + 1] != END:
                self._pos = pos + 1
                raise MissingEnd(f"expected 16H after {length} data bytes")
            checksum = sum(buf[pos:checksum_at]) & 0xFF
            if buf[checksum_at] != checksum:
                got = buf[checksum_at]
                self._pos = pos + 1
                raise BadChecksum(f"checksum {got:02X}H, computed {checksum:02X}H")
            raw = buf[pos + 1 : pos + 7]
            if raw.translate(None, ADDRESS_BYTES):
                self._pos = pos + 1
                raise BadAddress(f"address bytes {raw.hex().upper()} are not BCD/AA")
            address = raw[::-1].hex().upper()
            _learn(self._known, buf[pos : pos + 10], address)
            self._pos = checksum_at + 2
            self.frames += 1
            return Frame(address, buf[pos + 8], buf[pos + 10 : checksum_at].translate(SUB_33))

    def _compact(self) -> None:
        """Before NEED_DATA: let go of consumed bytes, keep the partial frame."""
        if self._pos:
            self._buffer = self._buffer[self._pos :]
            self._pos = 0
