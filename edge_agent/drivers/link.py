"""A byte stream to one bus: a serial port (serial_asyncio_fast) or a TCP connection to a
transparent serial-to-TCP gateway (asyncio streams). Reopened on the next use after an error."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import serial_asyncio_fast

from edge_agent.config import Bus, Transport

log = logging.getLogger("edge_agent.link")


class LinkError(OSError):
    pass


class StreamLink:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @property
    def describe(self) -> str:
        if self.bus.transport is Transport.SERIAL:
            return f"{self.bus.device} @{self.bus.baud} {self.bus.byte_size}{self.bus.parity.value}"
        return f"tcp://{self.bus.host}:{self.bus.port}"

    async def open(self) -> None:
        if self.writer is not None:
            return
        bus = self.bus
        timeout = max(bus.timeout_ms / 1000, 1.0)
        try:
            if bus.transport is Transport.SERIAL:
                self.reader, self.writer = await serial_asyncio_fast.open_serial_connection(
                    url=bus.device,
                    baudrate=bus.baud,
                    parity=bus.parity.value,
                    stopbits=bus.stop_bits,
                    bytesize=bus.byte_size,
                )
            else:
                assert bus.host is not None
                assert bus.port is not None
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(bus.host, bus.port), timeout
                )
        except (OSError, TimeoutError) as exc:
            raise LinkError(f"cannot open {self.describe}: {exc}") from None

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def write(self, data: bytes) -> None:
        await self.open()
        assert self.writer is not None
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError as exc:
            await self.close()
            raise LinkError(f"write to {self.describe} failed: {exc}") from None

    def discard_input(self) -> int:
        """Drop bytes already received (a late reply to an earlier request, line noise)."""
        reader = self.reader
        if reader is None:
            return 0
        buffer = getattr(reader, "_buffer", None)  # StreamReader keeps unread bytes here
        if isinstance(buffer, bytearray):
            n = len(buffer)
            buffer.clear()
            return n
        return 0

    async def read_some(self, wait_s: float) -> bytes:
        """Up to 256 bytes, waiting at most ``wait_s``; b"" when nothing came."""
        await self.open()
        assert self.reader is not None
        try:
            chunk = await asyncio.wait_for(self.reader.read(256), wait_s)
        except TimeoutError:
            return b""
        except OSError as exc:
            await self.close()
            raise LinkError(f"read from {self.describe} failed: {exc}") from None
        if not chunk:  # EOF: the gateway closed the connection
            await self.close()
            raise LinkError(f"{self.describe} closed the connection")
        return chunk
