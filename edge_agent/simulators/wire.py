"""The wire under a simulated bus: byte timing, and byte links over TCP, ptys and serial ports.

A pty delivers bytes instantly, so a benchmark against it would measure nothing real. With
timing enforced the simulator keeps the line's timeline itself: a request occupies the wire
for its length in character times from when its first byte arrived (or when the line became
free, if later), the meter turns round, and the reply leaves byte by byte at the baud rate.
At 2400 baud 8E1 a character is 11 bits, 4.58 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import tty
from dataclasses import dataclass
from typing import Protocol

import serial

PACE_S = 0.008  # wake about this often while pacing a reply out
SPIN_S = 0.0015  # the last stretch before a frame's final byte is yielded away, not slept


@dataclass(frozen=True)
class Line:
    """A serial line's speed and framing. Both protocols use 11-bit characters on RS-485:
    start, 8 data bits, even parity, stop (8E1), or 8N2 for Modbus without parity."""

    baud: int
    bits_per_char: int = 11

    @property
    def char_s(self) -> float:
        return self.bits_per_char / self.baud

    def wire_s(self, nbytes: float) -> float:
        return nbytes * self.char_s


@dataclass(frozen=True)
class Timing:
    """How a bus paces itself. ``line`` None: no wire time at all (as fast as the host can).

    ``gap_chars`` is the silence the protocol demands between any two frames (Modbus RTU:
    3.5 characters); ``turnaround_s`` the meter's least delay before answering (DL/T 645:
    20 ms). Both count only when the line is enforced.
    """

    line: Line | None = None
    gap_chars: float = 0.0
    turnaround_s: float = 0.0

    @property
    def enforced(self) -> bool:
        return self.line is not None

    @property
    def gap_s(self) -> float:
        return self.line.wire_s(self.gap_chars) if self.line else 0.0


class Link(Protocol):
    async def read(self) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class WireClock:
    """The timeline of one half-duplex line (loop time, seconds)."""

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.free_at = 0.0  # when the line is next silent long enough for a frame to start

    def request_end(self, first_byte_at: float, nbytes: int) -> float:
        line = self.timing.line
        if line is None:
            return first_byte_at
        return max(first_byte_at, self.free_at) + line.wire_s(nbytes)

    def reply_start(self, request_end: float) -> float:
        if not self.timing.enforced:
            return request_end
        return request_end + max(self.timing.gap_s, self.timing.turnaround_s)

    def idle_after(self, end: float) -> None:
        self.free_at = max(self.free_at, end + self.timing.gap_s)

    async def send(self, link: Link, data: bytes, start: float) -> None:
        """Write ``data`` so that byte i leaves at ``start + (i + 1)`` character times."""
        loop = asyncio.get_running_loop()
        line = self.timing.line
        if line is None:
            if start > loop.time():
                await asyncio.sleep(start - loop.time())
            await link.write(data)
            return
        char_s = line.char_s
        per_wake = max(1, round(PACE_S / char_s))
        total = len(data)
        sent = 0
        while sent < total:
            target = min(total, sent + per_wake)
            await _sleep_until(loop, start + target * char_s, precise=target == total)
            await link.write(data[sent:target])
            sent = target
        self.idle_after(start + total * char_s)


async def _sleep_until(loop: asyncio.AbstractEventLoop, due: float, *, precise: bool) -> None:
    """Sleep until loop time ``due``. The event loop wakes up to 1 ms late (epoll counts whole
    milliseconds); when ``precise`` the last stretch is spent yielding, so a frame's final byte
    leaves on time and a benchmark is not charged for the simulator's own lateness."""
    remaining = due - loop.time()
    if precise and remaining > SPIN_S:
        await asyncio.sleep(remaining - SPIN_S)
    elif not precise and remaining > 0:
        await asyncio.sleep(remaining)
    while precise and loop.time() < due:  # noqa: ASYNC110 - a deliberate spin to the deadline
        await asyncio.sleep(0)


class StreamLink:
    """A TCP connection (a transparent serial-to-TCP gateway, or a Modbus TCP server)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read(self) -> bytes:
        try:
            return await self.reader.read(4096)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class FdLink:
    """A non-blocking file descriptor: a pty master or an opened serial port."""

    def __init__(self, fd: int, owner: object = None) -> None:
        self.fd = fd
        self._owner = owner  # keeps a pyserial port (or the pty's slave fd) alive with the link
        os.set_blocking(fd, False)

    async def _wait(self, writing: bool) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        (loop.add_writer if writing else loop.add_reader)(self.fd, wake)
        try:
            await ready
        finally:
            (loop.remove_writer if writing else loop.remove_reader)(self.fd)

    async def read(self) -> bytes:
        while True:
            try:
                return os.read(self.fd, 4096)
            except BlockingIOError:
                await self._wait(writing=False)
            except OSError as exc:
                if exc.errno == errno.EIO:  # the other side of a pty is closed
                    return b""
                raise

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:
                await self._wait(writing=True)
                continue
            view = view[written:]

    def close(self) -> None:
        close = getattr(self._owner, "close", None)
        if callable(close):
            close()
        else:
            os.close(self.fd)


class _Pty:
    """Holds the slave side open so the master never sees EIO between client sessions."""

    def __init__(self, master: int, slave: int) -> None:
        self.master = master
        self.slave = slave

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def open_pty() -> tuple[FdLink, str]:
    """A new pty: the simulator keeps the master, a client opens the returned slave path with
    pyserial like any serial port. The slave starts raw (no echo, no line editing)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    return FdLink(master, _Pty(master, slave)), os.ttyname(slave)


def open_serial(path: str, baud: int, parity: str = serial.PARITY_EVEN) -> FdLink:
    """An existing serial device (a real RS-485 adapter, or one end of a socat pty pair).

    Linux ptys here refuse even parity (EINVAL from tcsetattr); a pty has no parity bits to
    check anyway, so the port is then opened without, and the byte timing still counts the
    parity bit of the line being simulated.
    """
    try:
        port = serial.Serial(path, baudrate=baud, parity=parity, timeout=0)
    except (serial.SerialException, termios.error, OSError) as exc:
        if getattr(exc, "errno", None) != errno.EINVAL and "Invalid argument" not in str(exc):
            raise
        port = serial.Serial(path, baudrate=baud, parity=serial.PARITY_NONE, timeout=0)
    # pyserial leaves VMIN = 0, and a tty read with VMIN = 0 returns b"" rather than EAGAIN when
    # no byte is waiting, which would look like end of file: ask for at least one byte.
    attrs = termios.tcgetattr(port.fileno())
    attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
    termios.tcsetattr(port.fileno(), termios.TCSANOW, attrs)
    return FdLink(port.fileno(), port)
