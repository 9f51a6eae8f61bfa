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
"""

from __future__ import annotations

import enum
from typing import Final

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


class FrameDecoder:
    """Incremental DL/T 645 deframer for one byte stream (one serial line or TCP connection)."""

    __slots__ = ("_addresses", "_buffer", "_max_length", "frames", "skipped_bytes")

    def __init__(self, max_data_length: int = MAX_DATA_LENGTH) -> None:
        # 200 is the 2007 limit; some meters' vendor extensions send up to 255, and a deployment
        # that must talk to them can raise it here (the buffer bound grows with it).
        if not 0 <= max_data_length <= 255:
            raise ValueError("max_data_length must be 0..255")
        self._buffer = bytearray()
        self._max_length = max_data_length
        # A bus has a handful of meters: remember each validated address's string form so the
        # hot path is one dict lookup instead of validate + reverse + hex + upper.
        self._addresses: dict[bytes, str] = {}
        self.frames = 0
        self.skipped_bytes = 0  # FE wake-up bytes and noise before frames, and stray 68H

    @property
    def buffered(self) -> int:
        """Bytes currently held (fed but not yet consumed)."""
        return len(self._buffer)

    @property
    def max_buffered(self) -> int:
        """Bound on :attr:`buffered` after ``NEED_DATA``: one byte short of the longest frame."""
        return FRAME_OVERHEAD + self._max_length - 1

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer += data

    def abandon_partial(self) -> bool:
        """Give up on the incomplete candidate at the head of the buffer (the line went quiet).

        Drops its first byte so the next ``next_event()`` hunts for a frame inside it. Returns
        False if nothing was buffered. Call ``next_event()`` until ``NEED_DATA`` afterwards, and
        repeat while this returns True if the whole remainder should be discarded.
        """
        if not self._buffer:
            return False
        del self._buffer[:1]
        self.skipped_bytes += 1
        return True

    def _address(self, raw: bytes) -> str:
        address = self._addresses.get(raw)
        if address is None:
            if raw.translate(None, ADDRESS_BYTES):
                raise BadAddress(f"address bytes {raw.hex().upper()} are not BCD/AA")
            if len(self._addresses) >= 1024:
                self._addresses.clear()
            address = self._addresses[raw] = raw[::-1].hex().upper()
        return address

    def next_event(self) -> Frame | NeedData:
        buf = self._buffer
        while True:
            start = buf.find(START)
            if start < 0:
                self.skipped_bytes += len(buf)
                buf.clear()
                return NEED_DATA
            if start:
                self.skipped_bytes += start
                del buf[:start]
            available = len(buf)
            if available < 10:
                return NEED_DATA
            if buf[7] != START:
                # Not a header: a 68H inside noise. Skip it silently and hunt on.
                del buf[:1]
                self.skipped_bytes += 1
                continue
            length = buf[9]
            if length > self._max_length:
                del buf[:1]
                raise BadLength(f"length byte {length} exceeds {self._max_length}")
            checksum_at = 10 + length
            if available < checksum_at + 2:
                return NEED_DATA
            if buf[checksum_at + 1] != END:
                del buf[:1]
                raise MissingEnd(f"expected 16H after {length} data bytes")
            checksum = sum(buf[:checksum_at]) & 0xFF
            if buf[checksum_at] != checksum:
                got = buf[checksum_at]
                del buf[:1]
                raise BadChecksum(f"checksum {got:02X}H, computed {checksum:02X}H")
            try:
                address = self._address(bytes(buf[1:7]))
            except BadAddress:
                del buf[:1]
                raise
            frame = Frame(address, buf[8], bytes(buf[10:checksum_at]).translate(SUB_33))
            del buf[: checksum_at + 2]
            self.frames += 1
            return frame
